"""The embedded PostgreSQL keeps its data across a restart."""

import asyncpg
import pytest

from suishin.devstack.embedded import EmbeddedPostgres, free_port

pytestmark = pytest.mark.integration


async def test_embedded_postgres_keeps_state_across_restart(tmp_path) -> None:
    pg = EmbeddedPostgres(tmp_path / "data", port=free_port())
    pg.start()
    try:
        conn = await asyncpg.connect(pg.url("postgres"))
        await conn.execute("create table kept (v text); insert into kept values ('推進')")
        await conn.close()
        pg.stop()
        assert not pg.is_running()
        pg.start()
        conn = await asyncpg.connect(pg.url("postgres"))
        assert await conn.fetchval("select v from kept") == "推進"
        await conn.close()
    finally:
        pg.stop()
