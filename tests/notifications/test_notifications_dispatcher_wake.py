"""The dispatcher sleeps until the earliest delivery is due and is woken by new deliveries from
any connection (LISTEN/NOTIFY), so an idle service does not poll the deliveries table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from types import SimpleNamespace

import asyncpg
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


async def insert_delivery(
    svc: SimpleNamespace, conn: asyncpg.Connection | None = None, **values: object
) -> uuid.UUID:
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
    await (conn or svc.runtime.pool).execute(
        f"insert into deliveries ({columns}) values ({marks})", *row.values()
    )
    return row["id"]  # type: ignore[return-value]


async def pending_email(svc: SimpleNamespace, due: datetime) -> uuid.UUID:
    return await insert_delivery(
        svc, channel="email", status="pending", address="someone@example.jp", next_attempt_at=due
    )


@pytest.mark.asyncio(loop_scope="session")
async def test_a_new_email_delivery_wakes_the_dispatcher(svc: SimpleNamespace) -> None:
    dispatcher = svc.runtime.dispatcher
    before = dispatcher.notified
    due = await pending_email(svc, NOW + timedelta(hours=1))
    try:

        async def woken() -> bool:
            return dispatcher.notified > before

        await wait_until(woken, timeout=5, message="the dispatcher woken by NOTIFY")
    finally:
        await svc.runtime.pool.execute("delete from deliveries where id = $1", due)


@pytest.mark.asyncio(loop_scope="session")
async def test_only_deliveries_the_dispatcher_sends_notify(svc: SimpleNamespace) -> None:
    """An inbox delivery (one with every alert) or a digest item does not wake the dispatchers;
    a pending e-mail or webhook call does. The inserts run in one transaction, each followed by
    a marker NOTIFY: a transaction's notifications arrive together, in the order sent."""
    runtime = svc.runtime
    received: list[str] = []
    listener = await asyncpg.connect(runtime.settings.database_url)
    later = NOW + timedelta(hours=1)  # pending, not due: the woken dispatcher sends nothing
    ids: list[uuid.UUID] = []
    try:
        await listener.add_listener("suishin_deliveries", lambda *a: received.append(a[3]))
        async with runtime.pool.acquire() as conn, conn.transaction():
            ids.append(await insert_delivery(svc, conn))
            await conn.execute("select pg_notify('suishin_deliveries', 'after inbox')")
            ids.append(
                await insert_delivery(
                    svc, conn, channel="email", status="digest", address="someone@example.jp"
                )
            )
            await conn.execute("select pg_notify('suishin_deliveries', 'after digest item')")
            ids.append(
                await insert_delivery(
                    svc,
                    conn,
                    channel="webhook",
                    status="pending",
                    address="https://example.invalid/hook",
                    next_attempt_at=later,
                )
            )
            await conn.execute("select pg_notify('suishin_deliveries', 'after webhook')")

        async def all_arrived() -> bool:
            return "after webhook" in received

        await wait_until(all_arrived, timeout=5, message="the marker notifications")
        assert received[:2] == ["after inbox", "after digest item"]
        assert received[3:] == ["after webhook"]
        schema, due = received[2].split(" ")  # when the webhook call is due (migration 006)
        assert schema == runtime.schema
        assert float(due) == later.timestamp()
    finally:
        await listener.close()
        await runtime.pool.execute("delete from deliveries where id = any($1::uuid[])", ids)


@pytest.mark.asyncio(loop_scope="session")
async def test_a_batch_wakes_a_listening_dispatcher_only_through_notify(
    svc: SimpleNamespace,
) -> None:
    """The handlers' direct wake-up after a batch is for a dispatcher that polls; while it
    listens, the trigger wakes it for what it sends and an inbox-only batch costs no pass."""
    dispatcher = svc.runtime.dispatcher
    dispatcher._wakeup.clear()
    dispatcher.deliveries_committed()
    assert not dispatcher._wakeup.is_set()
    listener = dispatcher._listener
    dispatcher._listener = None  # as while LISTEN is lost
    try:
        dispatcher.deliveries_committed()
        assert dispatcher._wakeup.is_set()
    finally:
        dispatcher._listener = listener


@pytest.mark.asyncio(loop_scope="session")
async def test_the_dispatcher_sleeps_until_the_earliest_delivery_is_due(
    svc: SimpleNamespace,
) -> None:
    dispatcher = svc.runtime.dispatcher
    assert await dispatcher.seconds_until_due() == 60  # nothing pending: the fallback poll
    due = await pending_email(svc, NOW + timedelta(seconds=7))
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


@pytest.mark.asyncio(loop_scope="session")
async def test_a_delivery_due_after_the_dispatcher_wakes_anyway_does_not_wake_it(
    svc: SimpleNamespace,
) -> None:
    """The trigger's NOTIFY says when its earliest delivery is due; a sleeping dispatcher that
    will wake before then (it looks for the earliest due delivery after every pass) stays
    asleep: an e-mail held for quiet hours or a grouping window costs no pass."""
    dispatcher = svc.runtime.dispatcher
    schema = svc.runtime.schema

    async def asleep() -> bool:
        return dispatcher._sleep_ends is not None and not dispatcher._wakeup.is_set()

    await wait_until(asleep, timeout=10, message="the dispatcher asleep")
    before = dispatcher.notified
    dispatcher.notice(f"{schema} {(NOW + timedelta(hours=1)).timestamp()}")  # after its sleep
    dispatcher.notice(f"other_schema {NOW.timestamp()}")  # another service's deliveries
    assert not dispatcher._wakeup.is_set()
    assert dispatcher.notified == before + 1
    dispatcher.notice(f"{schema} {NOW.timestamp()}")  # due now
    assert dispatcher._wakeup.is_set()

    await wait_until(asleep, timeout=10, message="the dispatcher asleep again")
    dispatcher.notice(schema)  # a trigger that does not say when (before migration 006)
    assert dispatcher._wakeup.is_set()
