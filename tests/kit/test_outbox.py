"""The outbox publishes exactly what was committed, in order, and can replay."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from suishin.contracts import topics
from suishin.contracts.events import IndicatorReported, new_event
from suishin.devstack.testing import Infrastructure, TopicReader, isolated_settings, wait_until
from suishin.kit.broker import BrokerPublisher, ensure_topics, make_broker
from suishin.kit.db import create_pool
from suishin.kit.migrations import migrate
from suishin.kit.outbox import OutboxRelay, Snapshot, enqueue, enqueue_many, replay
from suishin.kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def reported(n: int, aggregate: str = "itabashi-kpi-1"):
    return new_event(
        IndicatorReported(
            indicator_key=aggregate,
            period="FY2024",
            value=n,
            source="test",
            idempotency_key=f"{aggregate}-{n}",
        ),
        tenant="itabashi",
        aggregate_id=aggregate,
        aggregate_version=n,
        producer="test",
    )


@pytest.fixture
async def env(
    infra: Infrastructure,
) -> AsyncIterator[tuple[ServiceSettings, asyncpg.Pool, OutboxRelay, str]]:
    settings = isolated_settings(ServiceSettings, infra)
    schema = settings.schema_name("outboxtest")
    pool = await create_pool(settings.database_url, schema)
    async with pool.acquire() as conn:
        await migrate(conn, schema, None)
    topic = settings.topic(topics.INDICATOR_REPORTED)
    await ensure_topics(settings.kafka_bootstrap, [topic])
    broker = make_broker(settings)
    await broker.start()
    relay = OutboxRelay(pool, schema, BrokerPublisher(broker), topic_prefix=settings.topic_prefix)
    yield settings, pool, relay, topic
    await broker.stop()
    await pool.close()


async def test_event_of_rolled_back_transaction_is_never_published(env) -> None:
    settings, pool, relay, topic = env
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        await enqueue(conn, reported(1))
        await tx.rollback()
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, reported(2))
    assert await relay.drain() == 1
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        await reader.wait_for(1)
        # Give a late record every chance to show up before asserting it never does.
        for _ in range(10):
            await reader.poll()
    assert [json.loads(r.value)["aggregate_version"] for r in reader.records] == [2]


async def test_transaction_that_commits_late_is_not_skipped(env) -> None:
    settings, pool, relay, topic = env
    late = await pool.acquire()
    late_tx = late.transaction()
    await late_tx.start()
    await enqueue(late, reported(1, "late"))  # gets the lower id, commits last
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, reported(2, "early"))
    assert await relay.drain() == 1
    await late_tx.commit()
    await pool.release(late)
    assert await relay.drain() == 1
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(2)
    assert sorted(json.loads(r.value)["aggregate_id"] for r in records) == ["early", "late"]
    assert await pool.fetchval("select count(*) from outbox where published_at is null") == 0


async def test_events_of_one_aggregate_keep_their_order(env) -> None:
    settings, pool, relay, topic = env
    for n in range(1, 201):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, reported(n))
    assert await relay.drain() == 200
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(200)
    assert len({r.partition for r in records}) == 1
    assert [json.loads(r.value)["aggregate_version"] for r in records] == list(range(1, 201))


async def test_a_batch_is_enqueued_in_one_statement_and_published_in_its_order(env) -> None:
    settings, pool, relay, topic = env
    events = [reported(n, "itabashi-kpi-batch") for n in range(1, 101)]
    async with pool.acquire() as conn:
        # what the server runs: a statement trigger beside the outbox's NOTIFY counts them
        await conn.execute(
            """create table inserts_seen (at timestamptz default now());
               create function count_insert() returns trigger language plpgsql as $$
               begin insert into inserts_seen default values; return null; end $$;
               create trigger count_insert after insert on outbox
                   for each statement execute function count_insert()"""
        )
        async with conn.transaction():
            await enqueue_many(conn, events, headers={"x-test": "一括"})
        assert await conn.fetchval("select count(*) from inserts_seen") == 1
    assert await relay.drain() == 100
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(100)
    assert [json.loads(r.value)["event_id"] for r in records] == [str(e.event_id) for e in events]
    for record in records:
        headers = {k: v.decode() for k, v in record.headers}
        assert headers["x-test"] == "一括"
        assert headers["event_type"] == "indicator.reported"
        assert headers["traceparent"] == json.loads(record.value)["trace"]["traceparent"]


async def test_enqueue_outside_a_transaction_is_refused(env) -> None:
    _, pool, _, _ = env
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside the transaction"):
            await enqueue(conn, reported(1))


async def test_replay_republishes_after_a_broker_loss(env) -> None:
    settings, pool, relay, topic = env
    since = datetime.now(UTC) - timedelta(seconds=1)
    async with pool.acquire() as conn, conn.transaction():
        for n in range(1, 4):
            await enqueue(conn, reported(n))
    assert await relay.drain() == 3
    assert await replay(pool, since) == 3
    assert await relay.drain() == 3
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(6)
    assert len(records) == 6


async def test_published_rows_are_kept_for_the_retention_window(env) -> None:
    _, pool, relay, _ = env
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, reported(1))
    await relay.drain()
    assert await relay.purge_published() == 0
    assert await relay.purge_published(now=datetime.now(UTC) + timedelta(days=8)) == 1


async def test_running_relay_publishes_on_notify_and_listens_again_after_losing_it(env) -> None:
    """The poll is a slow fallback (60 s here): only NOTIFY can publish within the wait."""
    settings, pool, _, _ = env
    broker = make_broker(settings)
    await broker.start()
    relay = OutboxRelay(
        pool,
        settings.schema_name("outboxtest"),
        BrokerPublisher(broker),
        topic_prefix=settings.topic_prefix,
        poll_interval=60,
        listen_poll_interval=60,
        listen_dsn=settings.database_url,
    )
    task = asyncio.create_task(relay.run())

    async def until(condition, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not task.done():
            if condition():
                return
            assert loop.time() < deadline, "not reached before the fallback poll"
            await asyncio.sleep(0.01)
        task.result()

    try:
        await until(lambda: relay.listener_pid is not None)
        base = relay.published_total
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, reported(1, "woken"))
        await until(lambda: relay.published_total == base + 1)

        first = relay.listener_pid
        await pool.execute("select pg_terminate_backend($1)", first)  # e.g. a PostgreSQL restart
        await until(lambda: relay.listener_pid not in (None, first))
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, reported(2, "woken"))
        await until(lambda: relay.published_total == base + 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.stop()


async def test_only_the_relay_holding_the_lock_claims_rows(env) -> None:
    """The leader's lock and the claim are one statement: while another relay of the schema
    holds the lock, nothing is claimed, published or marked."""
    settings, pool, relay, topic = env
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, reported(1, "leader"))
    other = await pool.acquire()
    try:
        async with other.transaction():
            assert await other.fetchval("select pg_try_advisory_xact_lock($1)", relay._lock_key)
            assert await relay.publish_pending() == 0
            assert await pool.fetchval("select count(*) from outbox where published_at is null")
        assert await relay.drain() == 1  # the lock ended with the other transaction
    finally:
        await pool.release(other)
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(1)
    assert [json.loads(r.value)["aggregate_id"] for r in records] == ["leader"]


async def test_rows_marked_during_a_failed_publish_stay_unpublished(env) -> None:
    """Rows are marked while the broker acknowledges; a publish that fails after the mark
    rolls the mark back, so the next pass publishes them (at least once, in order)."""
    settings, pool, relay, topic = env
    schema = settings.schema_name("outboxtest")
    marked = asyncio.Event()

    async def failing(records) -> None:
        # fails only once the mark is done: the relay's connection then waits, in its open
        # transaction, with the update as its last statement
        for _ in range(500):
            if await pool.fetchval(
                """select count(*) from pg_stat_activity
                   where state = 'idle in transaction' and query like 'update outbox set%'"""
            ):
                marked.set()
                break
            await asyncio.sleep(0.01)
        raise ConnectionError("broker lost")

    async with pool.acquire() as conn, conn.transaction():
        for n in range(1, 4):
            await enqueue(conn, reported(n, "retried"))
    broken = OutboxRelay(pool, schema, failing, topic_prefix=settings.topic_prefix)
    with pytest.raises(ConnectionError):
        await broken.publish_pending()
    assert marked.is_set()
    assert await pool.fetchval("select count(*) from outbox where published_at is null") == 3
    assert await relay.drain() == 3
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(3)
    assert [json.loads(r.value)["aggregate_version"] for r in records] == [1, 2, 3]


async def test_a_relay_cancelled_as_it_is_woken_stops(env) -> None:
    """On Python 3.11 ``asyncio.wait_for`` swallows a cancellation that arrives with the event
    it waits for; a relay waiting that way kept running, and its service's shutdown hung."""
    _settings, _pool, relay, _topic = env
    for _ in range(5):
        task = asyncio.create_task(relay.run())
        # idle: waiting for a wake-up
        await wait_until(lambda: _true(bool(relay._wakeup._waiters)), message="the relay idle")
        relay.wake()
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=10)
        assert done, "the relay did not stop"
        assert task.cancelled()


async def _true(value: bool) -> bool:
    return value


async def test_a_pass_short_of_a_batch_is_not_followed_by_an_empty_one(env) -> None:
    """After a pass that claimed fewer rows than a batch the relay waits for its next wake-up
    instead of looking again (an empty pass is three round trips to PostgreSQL); a row
    committed while a pass publishes still goes out, on the wake-up its writer gives; a full
    batch is followed by another pass at once."""
    settings, pool, _relay, topic = env
    schema = settings.schema_name("outboxtest")
    broker = make_broker(settings)
    await broker.start()
    publisher = BrokerPublisher(broker)
    passes: list[int] = []
    written_during_pass = False

    async def publish(records) -> None:
        nonlocal written_during_pass
        if not written_during_pass:  # a writer commits while the first pass publishes
            written_during_pass = True
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, reported(2, "partial"))
            relay.wake()  # as the writer's handler does after its commit
        await publisher(records)

    relay = OutboxRelay(
        pool, schema, publish, topic_prefix=settings.topic_prefix, batch_size=3, poll_interval=60
    )
    counted = relay.publish_pending

    async def publish_pending() -> int:
        passes.append(await counted())
        return passes[-1]

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    # committed before the relay starts, so its first pass (at start) claims it
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, reported(1, "partial"))
    task = asyncio.create_task(relay.run())

    async def waiting(count: int) -> bool:
        if task.done():
            task.result()
        return len(passes) >= count and bool(relay._wakeup._waiters)

    try:
        await wait_until(lambda: waiting(2), message="the relay waiting after two passes")
        assert passes == [1, 1]  # the second pass was the writer's wake-up, not a look-again

        async with pool.acquire() as conn, conn.transaction():
            for n in range(3, 7):
                await enqueue(conn, reported(n, "partial"))
        relay.wake()
        await wait_until(lambda: waiting(4), message="the relay waiting after a full batch")
        assert passes == [1, 1, 3, 1]  # a full batch: the rest at once
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.stop()
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(6)
    assert [json.loads(r.value)["aggregate_version"] for r in records] == list(range(1, 7))


def test_a_snapshot_tells_which_transactions_it_saw() -> None:
    seen = Snapshot.parse("100:105:101,103")
    assert seen == Snapshot(100, 105, frozenset({101, 103}))
    assert [xid for xid in range(98, 108) if seen.saw(xid)] == [98, 99, 100, 102, 104]
    assert Snapshot.parse("7:7:") == Snapshot(7, 7, frozenset())


@contextlib.asynccontextmanager
async def listening_relay(env, publish_hook):
    """A running relay that LISTENs (60 s fallback poll), ``publish_hook(relay)`` called as it
    publishes; yields it, its passes (rows claimed by each) and ``waiting(count)``: it has made
    ``count`` passes and waits with no wake-up pending."""
    settings, pool, _, _ = env
    broker = make_broker(settings)
    await broker.start()
    publisher = BrokerPublisher(broker)

    async def publish(records) -> None:
        await publish_hook(relay)
        await publisher(records)

    relay = OutboxRelay(
        pool,
        settings.schema_name("outboxtest"),
        publish,
        topic_prefix=settings.topic_prefix,
        poll_interval=60,
        listen_poll_interval=60,
        listen_dsn=settings.database_url,
    )
    passes: list[int] = []
    counted = relay.publish_pending

    async def publish_pending() -> int:
        passes.append(await counted())
        return passes[-1]

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    task = asyncio.create_task(relay.run())

    async def waiting(count: int) -> bool:
        if task.done():
            task.result()
        idle = bool(relay._wakeup._waiters) and not relay._wakeup.is_set()
        return len(passes) >= count and idle and relay.listener_pid is not None

    try:
        await wait_until(lambda: waiting(1), message="the relay listening after its first pass")
        yield relay, passes, waiting
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.stop()


async def test_the_notify_of_a_commit_the_pass_already_saw_wakes_nothing(env) -> None:
    """The writer wakes the relay after its commit (as the handlers do), and its commit's NOTIFY
    arrives while that pass runs (or started it, the wake-up arriving during the pass): the
    pass's claim saw the transaction, so no empty pass follows (one did before the NOTIFY
    named its transaction)."""
    _, pool, _, _ = env

    async def notify_arrives_during_the_pass(relay: OutboxRelay) -> None:
        await wait_until(lambda: _true(relay.notifications_received), message="the NOTIFY")

    async with listening_relay(env, notify_arrives_during_the_pass) as (relay, passes, waiting):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, reported(1, "seen"))
        relay.wake()
        await wait_until(lambda: waiting(2), message="the relay waiting after the writer's pass")
        assert passes == [0, 1]
        assert relay._notified == set()


async def test_the_notify_of_a_commit_the_pass_did_not_see_wakes_the_relay(env) -> None:
    """A row committed while a pass publishes, with no wake-up but its NOTIFY, goes out
    without waiting for the (60 s) poll."""
    settings, pool, _, topic = env
    committed_during_pass = False

    async def commit_during_the_pass(relay: OutboxRelay) -> None:
        nonlocal committed_during_pass
        if not committed_during_pass:
            committed_during_pass = True
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, reported(2, "unseen"))

    async with listening_relay(env, commit_during_the_pass) as (relay, passes, waiting):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, reported(1, "unseen"))
        relay.wake()
        await wait_until(lambda: waiting(3), timeout=10, message="both rows published")
        assert passes == [0, 1, 1]
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(2)
    assert [json.loads(r.value)["aggregate_id"] for r in records] == ["unseen", "unseen"]


async def test_a_wake_during_a_pass_is_spent_by_it_while_listening_but_look_is_not(env) -> None:
    """While the relay LISTENs, a writer's wake-up only starts a pass sooner (its commit's
    NOTIFY decides); :meth:`OutboxRelay.look` (rows made pending again by a replay, which
    sends no NOTIFY) always gets a pass of its own."""
    _, pool, _, _ = env
    during_pass: list[str] = []

    async def call_during_the_pass(relay: OutboxRelay) -> None:
        getattr(relay, during_pass.pop(0))()

    async with listening_relay(env, call_during_the_pass) as (relay, passes, waiting):
        for number, call, expected in [(1, "wake", [0, 1]), (2, "look", [0, 1, 1, 0])]:
            during_pass.append(call)
            async with pool.acquire() as conn, conn.transaction():
                await enqueue(conn, reported(number, "called"))
            relay.wake()
            await wait_until(lambda e=expected: waiting(len(e)), message=f"passes after {call}")
            assert passes == expected


async def test_a_notify_that_does_not_name_a_transaction_always_gets_a_pass(env) -> None:
    """A payload without a transaction id (the trigger before kit migration 003) or with one
    that is not a number is not trusted to have been seen: the relay looks; another schema's
    NOTIFY is ignored."""
    settings, pool, _, _ = env
    schema = settings.schema_name("outboxtest")

    async def nothing(_relay: OutboxRelay) -> None:
        return None

    async with listening_relay(env, nothing) as (relay, passes, waiting):
        for count, payload in [(2, schema), (3, f"{schema} not-a-xid"), (4, f"{schema} ")]:
            await pool.execute("select pg_notify('suishin_outbox', $1)", payload)
            await wait_until(lambda c=count: waiting(c), message=f"a pass after {payload!r}")
        received = relay.notifications_received
        await pool.execute("select pg_notify('suishin_outbox', 'another_schema 1')")
        await pool.execute("select pg_notify('suishin_outbox', $1)", schema)  # a marker
        await wait_until(lambda: waiting(5), message="a pass after the marker")
        assert passes == [0, 0, 0, 0, 0]
        assert relay.notifications_received == received + 1  # the marker only


async def _true(value: object) -> bool:
    return bool(value)
