"""Migrations are applied in order, once, and an edited applied migration is refused."""

from pathlib import Path

import asyncpg
import pytest

from suishin.devstack.testing import Infrastructure, unique_prefix
from suishin.kit.migrations import MigrationError, migrate

pytestmark = pytest.mark.integration


async def test_migrations_apply_once_in_order(infra: Infrastructure, tmp_path: Path) -> None:
    (tmp_path / "001_a.sql").write_text("create table a (id int);")
    (tmp_path / "002_b.sql").write_text("insert into a values (1);")
    schema = unique_prefix() + "_mig"
    conn = await asyncpg.connect(infra.database_url)
    try:
        first = await migrate(conn, schema, tmp_path)
        assert first == [
            "kit_001_outbox_inbox",
            "kit_002_broker_epoch",
            "kit_003_outbox_notify_xact",
            "001_a",
            "002_b",
        ]
        assert await migrate(conn, schema, tmp_path) == []
        assert await conn.fetchval(f'select count(*) from "{schema}".a') == 1

        (tmp_path / "002_b.sql").write_text("insert into a values (2);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, schema, tmp_path)
    finally:
        await conn.close()
