"""A broker that restarts empty (the memory-only embedded one) is noticed and recovered by the
service itself: consumers rewound to the new log, the outbox published again. No `replay`."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from suishin.contracts import topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.devstack.embedded import EmbeddedBroker, free_port
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    wait_until,
)
from suishin.kit.broker import ensure_topics
from suishin.kit.brokerwatch import rewind_out_of_range
from suishin.kit.consumer import Rejection
from suishin.kit.inbox import claim_many
from suishin.kit.outbox import enqueue
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def event(key: str, value: int = 1) -> Envelope[IndicatorReported]:
    return new_event(
        IndicatorReported(
            indicator_key=key, period="FY2024", value=value, source="t", idempotency_key=key
        ),
        tenant="itabashi",
        aggregate_id=key,
        producer="test",
    )


@pytest.fixture
def broker() -> Iterator[EmbeddedBroker]:
    own = EmbeddedBroker(port=free_port())
    own.start()
    try:
        yield own
    finally:
        own.stop()


def runtime_on(broker: EmbeddedBroker, infra: Infrastructure, tmp_path: Path) -> ServiceRuntime:
    (tmp_path / "001_applied.sql").write_text(
        "create table if not exists applied (event_id uuid primary key, key text not null);"
    )
    settings = isolated_settings(
        ServiceSettings, infra, kafka_bootstrap=broker.bootstrap, broker_watch_interval=0.3
    )
    runtime = ServiceRuntime("watchtest", settings, migrations=tmp_path)

    async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await claim_many(conn, "watchtest", [e.event_id for e in events])
            await conn.executemany(
                "insert into applied values ($1, $2)",
                [(e.event_id, e.payload.indicator_key) for e in events if e.event_id in fresh],
            )
        return []

    runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, handle)
    return runtime


@pytest.fixture
async def service(
    broker: EmbeddedBroker, infra: Infrastructure, tmp_path: Path
) -> AsyncIterator[ServiceRuntime]:
    runtime = runtime_on(broker, infra, tmp_path)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


async def announce(runtime: ServiceRuntime, count: int, tag: str) -> set[str]:
    """``count`` events of the service's own, through its outbox."""
    events = [event(f"{tag}-{n}") for n in range(count)]
    async with runtime.pool.acquire() as conn, conn.transaction():
        for e in events:
            await enqueue(conn, e, topic=topics.INDICATOR_STATUS_CHANGED)
    assert runtime.relay is not None
    runtime.relay.wake()
    return {str(e.event_id) for e in events}


async def on_topic(bootstrap: str, topic: str, expected: set[str], timeout: float = 60) -> None:
    async with TopicReader(bootstrap, topic) as reader:

        async def all_there() -> bool:
            seen = {json.loads(r.value)["event_id"] for r in await reader.poll()}
            return expected <= seen

        await wait_until(all_there, timeout=timeout, message=f"{len(expected)} events on {topic}")


async def applied_count(runtime: ServiceRuntime) -> int:
    return int(await runtime.pool.fetchval("select count(*) from applied"))


async def test_a_restarted_broker_is_recovered_while_the_service_runs(
    service: ServiceRuntime, broker: EmbeddedBroker
) -> None:
    reported = service.topic(topics.INDICATOR_REPORTED)
    announced = service.topic(topics.INDICATOR_STATUS_CHANGED)
    before = [event(f"before-{n}") for n in range(60)]
    await produce(broker.bootstrap, reported, [(e.key, e.to_bytes()) for e in before])
    own = await announce(service, 20, "own")
    await wait_until(lambda: _at_least(service, 60), timeout=60, message="the first reports")
    await on_topic(broker.bootstrap, announced, own)

    broker.stop()  # memory only: every record, topic and committed offset is gone
    broker.start()
    after = [event(f"after-{n}") for n in range(10)]
    await produce(broker.bootstrap, reported, [(e.key, e.to_bytes()) for e in after])

    # The reports sent to the new broker are all applied, once ...
    await wait_until(lambda: _at_least(service, 70), timeout=60, message="the reports after")
    # ... and the service's own events are on the new broker again, without `suishin replay`.
    await on_topic(broker.bootstrap, announced, own)
    assert service.brokerwatch is not None and service.brokerwatch.losses == 1
    assert await applied_count(service) == 70
    metrics = await service.metrics()
    assert 'suishin_broker_losses_recovered_total{service="watchtest"} 1.0' in metrics


async def test_a_broker_that_restarted_while_the_service_was_down_is_recovered_at_start(
    broker: EmbeddedBroker, infra: Infrastructure, tmp_path: Path
) -> None:
    first = runtime_on(broker, infra, tmp_path)
    await first.start()
    try:
        own = await announce(first, 10, "own")
        await on_topic(broker.bootstrap, first.topic(topics.INDICATOR_STATUS_CHANGED), own)
    finally:
        await first.stop()
    broker.stop()
    broker.start()
    second = runtime_on(broker, infra, tmp_path)
    second.settings = first.settings  # the same schema: the same service, started again
    second.schema = first.schema
    await second.start()
    try:
        await on_topic(broker.bootstrap, second.topic(topics.INDICATOR_STATUS_CHANGED), own)
        assert second.brokerwatch is not None and second.brokerwatch.losses == 1
    finally:
        await second.stop()


async def test_a_position_past_the_end_of_a_restarted_log_is_rewound(
    broker: EmbeddedBroker,
) -> None:
    """tansu answers a fetch past the end with nothing (no OFFSET_OUT_OF_RANGE), so a consumer
    that kept its position across the restart would wait forever without the rewind."""
    topic = "positions"
    await ensure_topics(broker.bootstrap, [topic], partitions=1)
    await produce(broker.bootstrap, topic, [(b"k", b"%d" % n) for n in range(5)])
    consumer = AIOKafkaConsumer(
        bootstrap_servers=broker.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=100
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek(tp, 500)  # where it stood on the lost log
        assert not await consumer.getmany(timeout_ms=500)
        got: list[bytes] = []

        async def rewound_and_read() -> bool:
            await rewind_out_of_range(consumer)
            batch = await consumer.getmany(timeout_ms=200)
            got.extend(r.value for records in batch.values() for r in records if r.value)
            return len(got) >= 5

        await wait_until(rewound_and_read, timeout=20, message="the rewind")
        assert got == [b"%d" % n for n in range(5)]
    finally:
        await consumer.stop()


async def _at_least(runtime: ServiceRuntime, count: int) -> bool:
    await asyncio.sleep(0)
    return await applied_count(runtime) >= count


async def test_the_epoch_partition_is_fetched_only_while_the_epoch_is_read(
    infra: Infrastructure,
) -> None:
    from suishin.kit.brokerwatch import EpochReader

    topic = f"_suishin.broker-epoch.test-{free_port()}"
    reader = EpochReader(infra.kafka_bootstrap, topic, client_id="epoch-test")
    try:
        first = await reader.read()
        consumer = reader._consumer
        assert consumer is not None
        # paused between reads: no background long polls on an idle broker
        assert consumer.paused() == {TopicPartition(topic, 0)}
        assert await reader.read() == first
        assert consumer.paused() == {TopicPartition(topic, 0)}
    finally:
        await reader.close()
