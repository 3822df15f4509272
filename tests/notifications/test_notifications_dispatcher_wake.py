"""The dispatcher sleeps until the earliest delivery is due and is woken by new deliveries from
any connection (LISTEN/NOTIFY), so an idle service does not poll the deliveries table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest
import pytest_asyncio

from suishin.devstack.testing import Infrastructure, isolated_settings, started, wait_until
from suishin.kit.clock import FixedClock
from suishin.notifications.app import build
from suishin.notifications.domain.shaping import JST
from suishin.notifications.settings import NotificationsSettings

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 11, 10, 0, tzinfo=JST)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def svc(infra: Infrastructure) -> AsyncIterator[SimpleNamespace]:
    # Long polls: only a NOTIFY can wake the dispatcher within the tests' waits.
    settings = isolated_settings(
        NotificationsSettings,
        infra,
        dispatcher_poll_interval=0.5,
        dispatcher_listen_poll_interval=60,
    )
    runtime, _app = build(settings, clock=FixedClock(NOW))
    async with started(runtime):

        async def listening() -> bool:
            return runtime.dispatcher.listener_pid is not None

        await wait_until(listening, timeout=10)
        yield SimpleNamespace(runtime=runtime)


async def insert_delivery(svc: SimpleNamespace, **values: object) -> uuid.UUID:
    """A delivery row written by another connection, as another replica or a tool would."""
    row = {
        "id": uuid.uuid4(),
        "tenant": "waketest",
        "recipient_id": "someone",
        "channel": "inbox",
        "status": "delivered",
        "created_at": NOW,
        **values,
    }
    columns = ", ".join(row)
    marks = ", ".join(f"${i}" for i in range(1, len(row) + 1))
    await svc.runtime.pool.execute(
        f"insert into deliveries ({columns}) values ({marks})", *row.values()
    )
    return row["id"]  # type: ignore[return-value]


@pytest.mark.asyncio(loop_scope="session")
async def test_a_new_delivery_wakes_the_dispatcher(svc: SimpleNamespace) -> None:
    dispatcher = svc.runtime.dispatcher
    before = dispatcher.notified
    await insert_delivery(svc)

    async def woken() -> bool:
        return dispatcher.notified > before

    await wait_until(woken, timeout=5, message="the dispatcher woken by NOTIFY")


@pytest.mark.asyncio(loop_scope="session")
async def test_the_dispatcher_sleeps_until_the_earliest_delivery_is_due(
    svc: SimpleNamespace,
) -> None:
    dispatcher = svc.runtime.dispatcher
    assert await dispatcher.seconds_until_due() == 60  # nothing pending: the fallback poll
    due = await insert_delivery(
        svc,
        channel="email",
        status="pending",
        address="someone@example.jp",
        next_attempt_at=NOW + timedelta(seconds=7),
    )
    try:
        assert await dispatcher.seconds_until_due() == pytest.approx(7)
    finally:
        await svc.runtime.pool.execute("delete from deliveries where id = $1", due)
    overdue = await insert_delivery(
        svc,
        channel="webhook",
        status="sending",
        address="https://example.invalid/hook",
        lease_until=NOW - timedelta(seconds=5),
    )
    try:  # a lease already run out: the next pass at the shortest interval
        assert await dispatcher.seconds_until_due() == 0.5
    finally:
        await svc.runtime.pool.execute("delete from deliveries where id = $1", overdue)
