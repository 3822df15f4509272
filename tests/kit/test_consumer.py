"""Consumers apply each event once, dead-letter what they cannot apply, and keep going."""

import asyncio
import json
import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

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
from suishin.kit.consumer import Rejection
from suishin.kit.deadletter import MAX_DEAD_LETTER_BODY
from suishin.kit.fetchwait import IDLE_MS, QUICK_MS, current_wait_ms
from suishin.kit.inbox import claim_many
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import ServiceSettings

pytestmark = pytest.mark.integration


def event(key: str, value: int = 1) -> Envelope[IndicatorReported]:
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


@pytest.fixture
async def service(infra: Infrastructure, tmp_path: Path) -> AsyncIterator[ServiceRuntime]:
    (tmp_path / "001_applied.sql").write_text(
        "create table applied (event_id uuid primary key, indicator_key text not null);"
    )
    runtime = ServiceRuntime(
        "consumertest", isolated_settings(ServiceSettings, infra), migrations=tmp_path
    )

    async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        if any(e.payload.indicator_key == "boom" for e in events):
            raise RuntimeError("a handler bug that this one event triggers")
        rejections = [
            Rejection(e, "unknown_indicator", e.payload.indicator_key)
            for e in events
            if e.payload.indicator_key.startswith("unknown")
        ]
        refused = {r.event.event_id for r in rejections}
        async with runtime.pool.acquire() as conn, conn.transaction():
            fresh = await claim_many(
                conn, "consumertest", [e.event_id for e in events if e.event_id not in refused]
            )
            await conn.executemany(
                "insert into applied values ($1, $2)",
                [(e.event_id, e.payload.indicator_key) for e in events if e.event_id in fresh],
            )
        return rejections

    runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, handle)
    async with started(runtime):
        yield runtime


async def test_duplicates_apply_once_and_bad_messages_go_to_the_dead_letter_topic(
    service: ServiceRuntime, infra: Infrastructure
) -> None:
    topic = service.topic(topics.INDICATOR_REPORTED)
    good = event("kpi-a")
    wrong_version = json.loads(event("kpi-b").to_bytes())
    wrong_version["schema_version"] = 99
    await produce(
        infra.kafka_bootstrap,
        topic,
        [
            (good.key, good.to_bytes()),
            (good.key, good.to_bytes()),  # duplicate delivery
            (b"x", b"{not json"),
            (b"x", json.dumps(wrong_version).encode()),
            (b"x", event("unknown-kpi").to_bytes()),
        ],
    )
    # The consumer keeps consuming after the bad ones.
    later = event("kpi-c")
    await produce(infra.kafka_bootstrap, topic, [(later.key, later.to_bytes())])

    async def applied() -> list[str]:
        rows = await service.pool.fetch("select indicator_key from applied order by 1")
        return [r["indicator_key"] for r in rows] if len(rows) >= 2 else []

    assert await wait_until(applied, timeout=60) == ["kpi-a", "kpi-c"]
    async with TopicReader(infra.kafka_bootstrap, f"{topic}.dlq") as dlq:
        records = await dlq.wait_for(3)
    reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in records)
    assert reasons == ["malformed_json", "unknown_indicator", "unsupported_schema_version"]
    assert all(dict(r.headers)["x-dlq-source-topic"].decode() == topic for r in records)
    assert b"{not json" in [r.value for r in records]


def body(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


def envelope(key: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(event(key).to_bytes())
    data.update(changes)
    return data


def with_value(key: str, literal: bytes) -> bytes:
    raw = event(key).to_bytes()
    assert b'"value":"1"' in raw
    return raw.replace(b'"value":"1"', b'"value":' + literal)


def headers_of(record: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in record.headers}


async def test_every_poison_kind_is_dead_lettered_and_the_consumer_moves_on(
    service: ServiceRuntime, infra: Infrastructure
) -> None:
    topic = service.topic(topics.INDICATOR_REPORTED)
    deep = b"[" * 100_000 + b"]" * 100_000
    big = body(envelope("kpi-big", producer="x" * 1_000_000))
    poison: dict[str, tuple[bytes | None, list[tuple[str, bytes]]]] = {
        "tombstone": (None, []),
        "deep raw": (deep, []),
        "deep in payload": (
            event("deep").to_bytes().replace(b'"comment":null', b'"comment":' + deep),
            [],
        ),
        "schema_version [1]": (body(envelope("sv-list", schema_version=[1])), []),
        'schema_version {"v": 1}': (body(envelope("sv-dict", schema_version={"v": 1})), []),
        "event_type list": (body(envelope("et-list", event_type=["indicator.reported"])), []),
        "trace string": (body(envelope("trace", trace="x")), []),
        "payload list": (body(envelope("payload", payload=[1])), []),
        "non-UTF-8 header": (event("header").to_bytes(), [("x-source", b"\xff\xfe\x80")]),
        "1 MB": (big, []),
        "1e100000": (with_value("exp", b"1e100000"), []),
        "100,001 digits": (with_value("digits", b"1" * 100_001), []),
        '"1e100000"': (with_value("exp-str", b'"1e100000"'), []),
        "handler bug": (event("boom").to_bytes(), []),
    }
    expected = {
        "tombstone": "empty_message",
        "deep raw": "too_deeply_nested",
        "deep in payload": "too_deeply_nested",
        "schema_version [1]": "invalid_envelope",
        'schema_version {"v": 1}': "invalid_envelope",
        "event_type list": "invalid_envelope",
        "trace string": "invalid_envelope",
        "payload list": "invalid_payload",
        "non-UTF-8 header": "invalid_header",
        "1 MB": "too_large",
        "1e100000": "number_out_of_range",
        "100,001 digits": "number_out_of_range",
        '"1e100000"': "invalid_payload",
        "handler bug": "handler_error",
    }
    goods = [event(f"good-{i}") for i in range(len(poison) + 1)]
    batch: list[Any] = [(goods[0].key, goods[0].to_bytes())]
    for (name, (value, headers)), good in zip(poison.items(), goods[1:], strict=True):
        batch.append((name.encode(), value, headers))
        batch.append((good.key, good.to_bytes()))
    await produce(infra.kafka_bootstrap, topic, batch)  # one batch, bad between good

    async def applied() -> list[str]:
        rows = await service.pool.fetch(
            "select indicator_key from applied where indicator_key like 'good-%'"
        )
        return [r["indicator_key"] for r in rows] if len(rows) >= len(goods) else []

    assert sorted(await wait_until(applied, timeout=60)) == sorted(
        e.payload.indicator_key for e in goods
    )
    async with TopicReader(infra.kafka_bootstrap, f"{topic}.dlq") as dlq:
        records = await dlq.wait_for(len(poison), timeout=60)
    by_key = {r.key.decode(): r for r in records if r.key}
    assert {name: headers_of(by_key[name])["x-dlq-reason"] for name in poison} == expected
    # the oversized one is kept truncated, with its size and where the original is
    big_record = headers_of(by_key["1 MB"])
    assert len(by_key["1 MB"].value) == MAX_DEAD_LETTER_BODY
    assert big_record["x-dlq-truncated"] == "true"
    assert big_record["x-dlq-original-size"] == str(len(big))
    assert big_record["x-dlq-source-partition"] and big_record["x-dlq-source-offset"]
    assert (
        by_key["tombstone"].value == b""
        and headers_of(by_key["tombstone"])["x-dlq-original-size"] == "0"
    )
    assert by_key["deep raw"].value == deep[:MAX_DEAD_LETTER_BODY]
    # and it keeps consuming
    later = event("after-poison")
    await produce(infra.kafka_bootstrap, topic, [(later.key, later.to_bytes())])

    async def after() -> bool:
        return bool(
            await service.pool.fetchval(
                "select 1 from applied where indicator_key = 'after-poison'"
            )
        )

    await wait_until(after, timeout=60)
    health = await service.consumers[0].health()
    assert health["stalled"] is None


async def test_a_consumer_stuck_while_lag_grows_is_not_ready(
    infra: Infrastructure, tmp_path: Path
) -> None:
    runtime = ServiceRuntime(
        "stucktest",
        isolated_settings(ServiceSettings, infra, consumer_stall_seconds=1.0),
        migrations=None,
    )
    release = asyncio.Event()
    seen: list[str] = []

    async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        seen.extend(e.payload.indicator_key for e in events)
        if any(e.payload.indicator_key == "stuck" for e in events):
            await release.wait()
        return []

    runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, handle)
    topic = runtime.topic(topics.INDICATOR_REPORTED)
    async with started(runtime):
        try:
            first = event("first")
            await produce(infra.kafka_bootstrap, topic, [(first.key, first.to_bytes())])
            await wait_until(lambda: _true("first" in seen), timeout=60)
            assert all(v is True for v in (await runtime.ready()).values())
            stuck = event("stuck")
            await produce(infra.kafka_bootstrap, topic, [(stuck.key, stuck.to_bytes())])
            behind = [event(f"behind-{i}") for i in range(5)]
            await produce(infra.kafka_bootstrap, topic, [(e.key, e.to_bytes()) for e in behind])

            async def not_ready() -> dict[str, Any] | None:
                checks = await runtime.ready()
                return None if all(v is True for v in checks.values()) else checks

            checks = await wait_until(not_ready, timeout=30, message="readyz false")
            [detail] = [v for k, v in checks.items() if k.startswith("consumer ")]
            assert "stalled" in detail and "records waiting" in detail
            app = runtime.http_app(None)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://service"
            ) as client:
                answer = await client.get("/readyz")
            assert answer.status_code == 503
            assert any("stalled" in p for p in answer.json()["problems"])
            metrics = await runtime.metrics()
            assert "suishin_consumer_stalled{" in metrics and "} 1.0\n" in metrics
            assert re.search(r'suishin_consumer_lag\{[^}]*service="stucktest"', metrics)
            release.set()

            async def ready_again() -> bool:
                return all(v is True for v in (await runtime.ready()).values())

            await wait_until(ready_again, timeout=60, message="ready after the batch moved on")
            assert {f"behind-{i}" for i in range(5)} <= set(seen)
        finally:
            release.set()  # a failed check must not leave the handler (and the stop) waiting


async def _true(value: bool) -> bool:
    return value


async def test_a_batch_that_keeps_failing_is_retried_paced_never_dropped(
    infra: Infrastructure,
) -> None:
    runtime = ServiceRuntime(
        "flakytest",
        isolated_settings(
            ServiceSettings, infra, handler_max_retries=1, consumer_stall_seconds=1.0
        ),
        migrations=None,
    )
    calls: list[float] = []
    database_down = True
    applied: list[str] = []

    async def handle(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
        calls.append(asyncio.get_running_loop().time())
        if database_down:
            raise ConnectionRefusedError("the database is down")
        applied.extend(e.payload.indicator_key for e in events)
        return []

    runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, handle)
    topic = runtime.topic(topics.INDICATOR_REPORTED)
    async with started(runtime):
        waiting = event("waiting")
        await produce(infra.kafka_bootstrap, topic, [(waiting.key, waiting.to_bytes())])
        await wait_until(lambda: _true(bool(calls)), timeout=60)
        await asyncio.sleep(6)  # measuring a rate: the failures go on meanwhile
        # unpaced, a redelivered batch fails (and is logged) several times a second
        assert len(calls) <= 12
        checks = await runtime.ready()
        [detail] = [v for k, v in checks.items() if k.startswith("consumer ")]
        assert "failing" in str(detail)
        database_down = False
        await wait_until(lambda: _true(applied == ["waiting"]), timeout=60)
    assert runtime.consumers[0].dead_lettered == 0


async def test_fetch_wait_is_short_while_records_flow_and_long_when_quiet(
    service: ServiceRuntime, infra: Infrastructure
) -> None:
    consumer = service.consumers[0]

    def wait_ms() -> int | None:  # what the live AIOKafkaConsumer's next fetch asks for
        return current_wait_ms(consumer.subscriber.consumer)

    async def quick() -> bool:
        return consumer.processed >= 1 and wait_ms() == QUICK_MS

    async def idle() -> bool:
        return wait_ms() == IDLE_MS

    assert await idle()  # nothing received yet: long polls
    flowing = event("kpi-flow")
    topic = service.topic(topics.INDICATOR_REPORTED)
    await produce(infra.kafka_bootstrap, topic, [(flowing.key, flowing.to_bytes())])
    await wait_until(quick, message="short fetch wait once records arrive")
    consumer.fetch_wait.quiet_after = 0.2  # the runtime ticks once a second
    await wait_until(idle, timeout=10, message="long fetch wait again once the topic is quiet")


async def test_lag_is_read_from_the_fetched_high_watermark_without_asking_the_broker(
    service: ServiceRuntime, infra: Infrastructure
) -> None:
    consumer = service.consumers[0]
    kafka = consumer.subscriber.consumer
    topic = service.topic(topics.INDICATOR_REPORTED)
    first = event("kpi-lag-1")
    await produce(infra.kafka_bootstrap, topic, [(first.key, first.to_bytes())])
    await wait_until(lambda: _true(consumer.processed >= 1), timeout=60)
    await wait_until(
        lambda: _true(all(kafka.highwater(tp) is not None for tp in kafka.assignment())),
        timeout=30,
        message="every assigned partition fetched once",
    )

    async def no_list_offsets(*_: Any) -> Any:
        raise AssertionError("lag asked the broker for offsets (ListOffsets)")

    kafka.end_offsets = no_list_offsets
    kafka.beginning_offsets = no_list_offsets

    async def caught_up() -> bool:
        return await consumer.lag() == 0

    await wait_until(caught_up, timeout=30, message="no lag once the record is committed")
    checks = await service.ready()
    assert all(v is True for v in checks.values()), checks
    # the ends are the high watermarks: counted from offset 0, the record is waiting
    ends = sum(kafka.highwater(tp) for tp in kafka.assignment())
    assert ends >= 1

    async def from_the_start(_: Any) -> int:
        return 0

    kafka.committed = from_the_start
    assert await consumer.lag() == ends


async def test_a_poll_that_finds_nothing_does_not_sleep() -> None:
    from faststream.kafka import KafkaBroker
    from faststream.kafka.subscriber import usecase

    from suishin.kit.consumer import BatchConsumer, ConsumerGroup, subscribe

    broker = KafkaBroker()
    consumer: BatchConsumer[IndicatorReported] = BatchConsumer(
        name="t", broker=broker, payload_type=IndicatorReported, handler=_no_handler
    )
    subscribe(broker, ConsumerGroup({"t": consumer}, group_id="g"), batch_timeout_ms=1000)
    polls: list[int] = []

    class Kafka:
        async def getmany(self, *, timeout_ms: int, max_records: int | None) -> dict[Any, Any]:
            polls.append(timeout_ms)  # aiokafka returns as soon as records arrive
            return {}

    async def no_sleep(delay: float) -> None:
        raise AssertionError(f"slept {delay} s after an empty poll")

    original = usecase.anyio.sleep
    usecase.anyio.sleep = no_sleep  # FastStream's BatchSubscriber.get_msg sleeps here
    try:
        assert await consumer.subscriber.get_msg(Kafka()) == ()
    finally:
        usecase.anyio.sleep = original
    assert polls == [1000]


async def _no_handler(events: list[Envelope[IndicatorReported]]) -> Sequence[Rejection]:
    return []


async def test_the_consumer_settings_reach_the_kafka_consumer(
    infra: Infrastructure, tmp_path: Path
) -> None:
    runtime = ServiceRuntime(
        "settingstest",
        isolated_settings(
            ServiceSettings,
            infra,
            consumer_idle_fetch_wait_ms=700,
            consumer_quick_fetch_wait_ms=30,
            consumer_heartbeat_ms=4000,
            consumer_batch_timeout_ms=300,
        ),
        migrations=None,
    )
    runtime.add_consumer(topics.INDICATOR_REPORTED, IndicatorReported, _no_handler)
    async with started(runtime):
        consumer = runtime.consumers[0]
        kafka = consumer.subscriber.consumer
        assert current_wait_ms(kafka) == 700  # quiet from the start
        assert consumer.fetch_wait.idle_ms == 700
        assert consumer.fetch_wait.quick_ms == 30
        assert kafka._heartbeat_interval_ms == 4000
        assert kafka._session_timeout_ms == 12001  # three heartbeats, above the 10 s floor
        assert consumer.subscriber.batch_timeout_ms == 300


def test_a_subscriber_without_faststreams_poll_is_left_alone() -> None:
    from types import SimpleNamespace

    from suishin.kit.consumer import _poll_without_sleep

    renamed = SimpleNamespace(batch_timeout_ms=1000)  # a future FastStream, say
    assert _poll_without_sleep(renamed) is False
    assert not hasattr(renamed, "get_msg")
