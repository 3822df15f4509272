"""A service's consumers share one Kafka consumer and one consumer group (kit.consumer
ConsumerGroup): a polled batch is split by topic, a topic whose batch fails is read again
without the other topics' records being handed over again, and an upgraded service starts
where the per-topic groups it replaces had got to."""

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from suishin.contracts import topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)
from suishin.kit.broker import ensure_topics, platform_topics
from suishin.kit.consumer import Rejection, committed_offsets
from suishin.kit.inbox import claim_many
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import ServiceSettings

pytestmark = pytest.mark.integration

# Two topics of the platform, both read as IndicatorReported here: the kit does not care what
# a topic carries, only which consumer it belongs to.
FIRST, SECOND = topics.INDICATOR_REPORTED, topics.INDICATOR_STATUS_CHANGED


def report(key: str, value: int = 1) -> Envelope[IndicatorReported]:
    return new_event(
        IndicatorReported(
            indicator_key=key,
            period="FY2024",
            value=value,
            source="t",
            idempotency_key=f"{key}-{value}",
        ),
        tenant="itabashi",
        aggregate_id=key,
        producer="test",
    )


async def publish(infra: Infrastructure, topic: str, events: list[Envelope[Any]]) -> None:
    await produce(infra.kafka_bootstrap, topic, [(e.key, e.to_bytes()) for e in events])


def _true(value: bool) -> Any:
    async def check() -> bool:
        return value

    return check()


async def test_one_kafka_consumer_and_group_serve_every_topic_split_by_topic(
    infra: Infrastructure,
) -> None:
    runtime = ServiceRuntime(
        "topicstest", isolated_settings(ServiceSettings, infra), migrations=None
    )
    seen: dict[str, list[tuple[str, int]]] = {FIRST: [], SECOND: []}
    topic_of: dict[str, set[str]] = {FIRST: set(), SECOND: set()}

    def handler(name: str) -> Any:
        async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
            seen[name].extend((e.payload.indicator_key, int(e.payload.value or 0)) for e in events)
            return []

        return handle

    first = runtime.add_consumer(FIRST, IndicatorReported, handler(FIRST))
    second = runtime.add_consumer(SECOND, IndicatorReported, handler(SECOND))
    # records as the handler's consumer received them (the split is by topic)
    for consumer in (first, second):
        original = consumer.process

        async def process(
            records: Any, *, pace: bool = True, _c: Any = consumer, _o: Any = original
        ) -> None:
            topic_of[FIRST if _c is first else SECOND].update(r.topic for r in records)
            await _o(records, pace=pace)

        consumer.process = process  # type: ignore[method-assign]
    async with started(runtime):
        subscribers = [s for s in runtime.broker.subscribers if getattr(s, "group_id", None)]
        assert len(subscribers) == 1, "one FastStream subscriber for both topics"
        kafka = first.subscriber.consumer
        assert second.subscriber.consumer is kafka, "one aiokafka consumer"
        assert (
            kafka._group_id
            == runtime.group_id
            == f"{runtime.settings.topic_prefix}topicstest.consumers"
        )
        assert first.fetch_wait is second.fetch_wait, "one fetch wait for the one consumer"

        # one key per topic: each key's values are in one partition, in order
        await publish(infra, runtime.topic(FIRST), [report("a", v) for v in range(1, 31)])
        await publish(infra, runtime.topic(SECOND), [report("b", v) for v in range(1, 31)])

        async def all_seen() -> bool:
            return len(seen[FIRST]) >= 30 and len(seen[SECOND]) >= 30

        await wait_until(all_seen, timeout=60, message="both topics consumed")
        assert seen[FIRST] == [("a", v) for v in range(1, 31)], "only its topic, in order"
        assert seen[SECOND] == [("b", v) for v in range(1, 31)], "only its topic, in order"
        assert topic_of == {FIRST: {runtime.topic(FIRST)}, SECOND: {runtime.topic(SECOND)}}
        assert {tp.topic for tp in kafka.assignment()} == {
            runtime.topic(FIRST),
            runtime.topic(SECOND),
        }
        assert (first.processed, second.processed) == (30, 30)

        async def caught_up() -> bool:  # each consumer's lag counts its own topic's partitions
            return await first.lag() == 0 and await second.lag() == 0

        await wait_until(caught_up, timeout=30, message="no lag once committed")
        checks = await runtime.ready()
        assert checks[f"consumer {first.name}"] is True
        assert checks[f"consumer {second.name}"] is True


async def test_a_failing_topic_is_read_again_and_the_others_records_are_applied_once(
    infra: Infrastructure,
) -> None:
    runtime = ServiceRuntime(
        "failtopictest",
        isolated_settings(ServiceSettings, infra, handler_max_retries=0),
        migrations=None,
    )
    handed: dict[str, list[str]] = {FIRST: [], SECOND: []}
    applied: dict[str, list[str]] = {FIRST: [], SECOND: []}
    failures = 0

    async def healthy(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        handed[FIRST].extend(e.payload.indicator_key for e in events)
        applied[FIRST].extend(e.payload.indicator_key for e in events)
        return []

    async def flaky(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        nonlocal failures
        handed[SECOND].extend(e.payload.indicator_key for e in events)
        if failures < 3:  # transient: the batch fails once the retries (none here) are spent
            failures += 1
            raise ConnectionRefusedError("the database is down")
        applied[SECOND].extend(e.payload.indicator_key for e in events)
        return []

    first = runtime.add_consumer(FIRST, IndicatorReported, healthy)
    second = runtime.add_consumer(SECOND, IndicatorReported, flaky)
    await ensure_topics(runtime.settings.kafka_bootstrap, platform_topics(runtime.settings))
    # both topics wait before the consumer starts: its first polls bring both
    ones = [f"one-{i}" for i in range(40)]
    twos = [f"two-{i}" for i in range(40)]
    await publish(infra, runtime.topic(FIRST), [report(k) for k in ones])
    await publish(infra, runtime.topic(SECOND), [report(k) for k in twos])
    async with started(runtime):

        async def failed_then_applied() -> bool:
            return sorted(applied[SECOND]) == sorted(twos)

        await wait_until(failed_then_applied, timeout=90, message="the failing topic recovered")
        await wait_until(lambda: _true(sorted(applied[FIRST]) == sorted(ones)), timeout=30)
        assert failures == 3
        # the healthy topic's records were handed over once: not read again with the other's
        assert sorted(handed[FIRST]) == sorted(ones)
        # the failing topic's were read again (from each partition's earliest), none skipped
        assert set(handed[SECOND]) == set(twos) and len(handed[SECOND]) > len(twos)
        assert first.dead_lettered == second.dead_lettered == 0

        async def committed() -> bool:
            return await first.lag() == 0 and await second.lag() == 0

        await wait_until(committed, timeout=30, message="both topics committed")
        assert second.failing_since is None


async def _commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` under ``group`` as a consumer of that group had done."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


async def test_the_group_starts_where_the_per_topic_groups_it_replaces_had_committed(
    infra: Infrastructure,
) -> None:
    settings = isolated_settings(ServiceSettings, infra)
    seen: list[str] = []

    async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        seen.extend(e.payload.indicator_key for e in events)
        return []

    def service() -> ServiceRuntime:
        runtime = ServiceRuntime("carrytest", settings, migrations=None)
        runtime.add_consumer(FIRST, IndicatorReported, handle)
        return runtime

    runtime = service()
    topic = runtime.topic(FIRST)
    old_group = runtime.previous_group_id(FIRST)
    assert old_group == f"{settings.topic_prefix}carrytest.{FIRST}"
    await ensure_topics(settings.kafka_bootstrap, platform_topics(settings))
    old = [report(f"old-{i}") for i in range(60)]
    await publish(infra, topic, old)
    async with TopicReader(settings.kafka_bootstrap, topic) as reader:
        records = await reader.wait_for(len(old), timeout=30)
    partition_of = {json.loads(r.value)["payload"]["indicator_key"]: r.partition for r in records}
    ends: dict[int, int] = {}
    for r in records:
        ends[r.partition] = max(ends.get(r.partition, 0), r.offset + 1)
    assert len(ends) >= 2
    never = min(ends)  # the old group committed nothing here: read from the beginning
    carried = {TopicPartition(topic, p): end for p, end in ends.items() if p != never}
    await _commit(settings.kafka_bootstrap, old_group, carried)
    new = [report(f"new-{i}") for i in range(20)]
    await publish(infra, topic, new)
    keys_in_never = {key for key, p in partition_of.items() if p == never}

    async with started(runtime):
        wanted = {e.payload.indicator_key for e in new} | keys_in_never

        async def all_wanted() -> bool:
            return wanted <= set(seen)

        await wait_until(
            all_wanted, timeout=60, message="new records and the uncommitted partition"
        )
        # records before the carried-over offsets were never handed to the handler
        assert set(seen) == wanted, set(seen) - wanted
        assert len(seen) == len(wanted), "each once"
    # the new group committed where it started (the carried-over offsets) and on
    mine = await committed_offsets(settings.kafka_bootstrap)({runtime.group_id: list(carried)})
    for tp, offset in carried.items():
        assert mine[runtime.group_id][tp] >= offset, tp
    # its own offsets win from now on: the old group's are not read again
    await _commit(settings.kafka_bootstrap, old_group, dict.fromkeys(carried, 0))
    again = service()
    before = len(seen)
    extra = report("after-restart")
    await publish(infra, topic, [extra])
    async with started(again):
        await wait_until(lambda: _true("after-restart" in seen), timeout=60)
        assert seen[before:] == ["after-restart"], "the new group's own offsets win"


async def test_a_batch_failing_as_a_whole_is_read_again_and_the_inbox_dedups_it(
    infra: Infrastructure, tmp_path: Path
) -> None:
    """What no topic's part caught fails the batch: FastStream nacks it, every partition of it
    is read again, and what one topic had applied changes nothing the second time."""
    (tmp_path / "001_applied.sql").write_text(
        "create table applied (event_id uuid primary key, topic text not null);"
    )
    runtime = ServiceRuntime(
        "nacktest",
        isolated_settings(ServiceSettings, infra, handler_max_retries=0),
        migrations=tmp_path,
    )
    handed = {FIRST: 0, SECOND: 0}
    failures = 0

    def handler(name: str, flaky: bool) -> Any:
        async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
            nonlocal failures
            handed[name] += len(events)
            if flaky and failures < 2:
                failures += 1
                raise ConnectionRefusedError("the database is down")
            async with runtime.pool.acquire() as conn, conn.transaction():
                fresh = await claim_many(conn, name, [e.event_id for e in events])
                await conn.executemany(
                    "insert into applied values ($1, $2)",
                    [(e.event_id, name) for e in events if e.event_id in fresh],
                )
            return []

        return handle

    runtime.add_consumer(FIRST, IndicatorReported, handler(FIRST, flaky=False))
    runtime.add_consumer(SECOND, IndicatorReported, handler(SECOND, flaky=True))

    def no_partial_retry(records: Any, after: float) -> None:
        raise RuntimeError("seeking the failed part back failed")

    runtime.group._read_again = no_partial_retry  # type: ignore[method-assign]
    await ensure_topics(runtime.settings.kafka_bootstrap, platform_topics(runtime.settings))
    await publish(infra, runtime.topic(FIRST), [report(f"one-{i}") for i in range(40)])
    await publish(infra, runtime.topic(SECOND), [report(f"two-{i}") for i in range(40)])
    async with started(runtime):

        async def both_applied() -> bool:
            rows = await runtime.pool.fetch("select topic, count(*) from applied group by topic")
            return {r["topic"]: r["count"] for r in rows} == {FIRST: 40, SECOND: 40}

        await wait_until(both_applied, timeout=90, message="both topics applied")
        assert failures == 2
        assert handed[FIRST] > 40, "the other topic's records were read again with the batch"
        assert await runtime.pool.fetchval("select count(*) from applied") == 80


async def test_fetching_is_held_while_a_batch_is_handled_and_a_failed_part_keeps_its_backoff(
    infra: Infrastructure,
) -> None:
    """The consumer's partitions are paused while a batch is handled, so the next fetch brings
    everything that arrived meanwhile; they are fetched again once it is done, except those of
    a part that failed, which wait for their backoff."""
    runtime = ServiceRuntime(
        "holdtest",
        isolated_settings(ServiceSettings, infra, handler_max_retries=0),
        migrations=None,
    )
    gate = asyncio.Event()
    held: list[tuple[set[TopicPartition], set[TopicPartition]]] = []  # (paused, assigned)
    first_seen: list[str] = []
    second_seen: list[str] = []
    failures = 0

    async def first(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        kafka = runtime.group.kafka()
        held.append((set(kafka.paused()), set(kafka.assignment())))
        await gate.wait()
        first_seen.extend(e.payload.indicator_key for e in events)
        return []

    async def second(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        nonlocal failures
        if failures == 0:
            failures += 1
            raise ConnectionRefusedError("the database is down")
        second_seen.extend(e.payload.indicator_key for e in events)
        return []

    runtime.add_consumer(FIRST, IndicatorReported, first)
    runtime.add_consumer(SECOND, IndicatorReported, second)
    paused_after_release: list[set[TopicPartition]] = []
    release = runtime.group.release

    def observed_release() -> None:
        release()
        kafka = runtime.group.kafka()
        paused_after_release.append(set(kafka.paused()) if kafka is not None else set())

    runtime.group.release = observed_release  # type: ignore[method-assign]
    async with started(runtime):
        kafka = runtime.group.kafka()
        await publish(infra, runtime.topic(FIRST), [report(f"a-{i}") for i in range(5)])
        await wait_until(lambda: _true(bool(held)), timeout=60, message="a batch handled")
        paused, assigned = held[0]
        assert assigned and paused == assigned, "every partition held while the batch runs"
        # arrives while the batch is held: fetched once it is done, nothing lost
        later = [f"b-{i}" for i in range(10)]
        await publish(infra, runtime.topic(FIRST), [report(k) for k in later])
        gate.set()
        wanted = sorted([f"a-{i}" for i in range(5)] + later)
        await wait_until(lambda: _true(sorted(first_seen) == wanted), timeout=60)
        await wait_until(lambda: _true(not kafka.paused()), timeout=10, message="fetching again")

        await publish(infra, runtime.topic(SECOND), [report("s-0")])
        await wait_until(lambda: _true(second_seen == ["s-0"]), timeout=60, message="retried")
        assert failures == 1
        backing_off = [
            p
            for p in paused_after_release
            if p and all(tp.topic == runtime.topic(SECOND) for tp in p)
        ]
        assert backing_off, "the failed part's partition stayed paused after the batch"
