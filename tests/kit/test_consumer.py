"""Consumers apply each event once, dead-letter what they cannot apply, and keep going."""

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from suishin.contracts import topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event
from suishin.kit.consumer import Rejection
from suishin.kit.inbox import claim_many
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import ServiceSettings
from suishin.kit.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)

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
