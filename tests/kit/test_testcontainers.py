"""With Docker, the same kit works against real Apache Kafka and PostgreSQL images."""

import asyncpg
import pytest

from suishin.devstack.testing import DockerUnavailable, docker_available

pytestmark = [pytest.mark.integration, pytest.mark.docker]


@pytest.mark.skipif(not docker_available(), reason="no Docker daemon answers on this machine")
async def test_real_kafka_and_postgres_containers_start_and_answer() -> None:
    import os

    from suishin.devstack.testing import _containers
    from suishin.kit.broker import ensure_topics

    os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "false")
    try:
        with _containers() as infra:
            conn = await asyncpg.connect(infra.database_url.replace("+psycopg2", ""))
            assert await conn.fetchval("select 1") == 1
            await conn.close()
            await ensure_topics(infra.kafka_bootstrap, ["suishin.smoke"])
    except DockerUnavailable as exc:
        pytest.skip(str(exc))
