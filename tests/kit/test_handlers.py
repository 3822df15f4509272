"""The one shape of a Kafka handler: claim → command → release rejected → wake."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.devstack.testing import Infrastructure, isolated_settings
from suishin.kit.consumer import Rejection
from suishin.kit.db import create_pool
from suishin.kit.handlers import InboxHandler, Outcome
from suishin.kit.migrations import migrate
from suishin.kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def reported(n: int) -> Envelope[IndicatorReported]:
    return new_event(
        IndicatorReported(
            indicator_key="kpi", period="FY2024", value=n, source="test", idempotency_key=f"k{n}"
        ),
        tenant="itabashi",
        aggregate_id="kpi",
        producer="test",
    )


@pytest.fixture
async def pool(infra: Infrastructure) -> AsyncIterator[asyncpg.Pool]:
    settings = isolated_settings(ServiceSettings, infra)
    schema = settings.schema_name("handlertest")
    pool = await create_pool(settings.database_url, schema)
    async with pool.acquire() as conn:
        await migrate(conn, schema, None)
    yield pool
    await pool.close()


async def test_fresh_events_reach_the_command_once_and_refused_ones_are_released(
    pool: asyncpg.Pool,
) -> None:
    seen: list[list[int]] = []
    woken: list[int] = []

    async def command(
        conn: asyncpg.Connection, events: list[Envelope[IndicatorReported]]
    ) -> Outcome:
        seen.append([int(e.payload.value) for e in events])
        odd = [Rejection(e, "odd", "odd value") for e in events if int(e.payload.value) % 2]
        return Outcome(odd, changed=len(odd) < len(events), applied=len(events) - len(odd))

    handle = InboxHandler("test:reported", lambda: pool, command, wake=lambda: woken.append(1))
    one, two, three = reported(1), reported(2), reported(3)

    rejected = await handle([one, two, two, three])
    assert seen == [[1, 2, 3]]  # the same event twice in a batch is applied once
    assert [r.event.event_id for r in rejected] == [one.event_id, three.event_id]
    assert woken == [1]

    await handle([one, two, three])  # redelivery: refused events are judged again
    assert seen[-1] == [1, 3]
    assert woken == [1]  # nothing changed, nothing to publish


async def test_a_failing_command_leaves_no_claim(pool: asyncpg.Pool) -> None:
    calls: list[int] = []

    async def command(
        conn: asyncpg.Connection, events: list[Envelope[IndicatorReported]]
    ) -> Outcome:
        calls.append(len(events))
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return Outcome(changed=True, applied=len(events))

    handle = InboxHandler("test:failing", lambda: pool, command)
    event = reported(4)
    with pytest.raises(RuntimeError):
        await handle([event])
    assert list(await handle([event])) == []
    assert calls == [1, 1]


async def test_a_released_connection_is_rolled_back_without_a_reset_query(
    infra: Infrastructure,
) -> None:
    """kit.db's pools skip asyncpg's reset query (a round trip after every use of a connection)
    and still roll back what a user left open."""
    settings = isolated_settings(ServiceSettings, infra)
    pool = await create_pool(settings.database_url, settings.schema_name("resettest"), max_size=1)
    try:
        seen: list[str] = []
        async with pool.acquire() as conn:
            inner = conn._con
            assert inner is not None
            inner.add_query_logger(lambda q: seen.append(q.query))
            await conn.execute("select 1")
        assert seen == ["select 1"]

        async with pool.acquire() as conn:
            await conn.execute("begin")
            await conn.execute("create temporary table left_open (x int)")
        assert seen[-1] == "ROLLBACK"
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval("select to_regclass('left_open')") is None
            schema = settings.schema_name("resettest")
            assert await conn.fetchval("show search_path") == f'"{schema}",public'
    finally:
        await pool.close()
