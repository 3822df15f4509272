"""Ingestion through the real broker: events in, statuses out, bad input dead-lettered."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
import pytest_asyncio

from suishin.contracts import ids, topics
from suishin.contracts.events import (
    Envelope,
    IndicatorReported,
    IndicatorStatusChanged,
    new_event,
    parse_event,
)
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)
from suishin.indicators.app import build
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.settings import IndicatorsSettings

from .conftest import JUNE_2024, Clock, plan_file, small_plan

pytestmark = pytest.mark.integration

TENANT = "kafkaku"


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="session",
    # one transaction per batch, and batches split into parts of one report or more
    params=[{"consumer_parts": 1}, {"consumer_parts": 3, "consumer_min_part_size": 1}],
    ids=["one-transaction", "parts"],
)
async def service(
    infra: Infrastructure, request: pytest.FixtureRequest
) -> AsyncIterator[IndicatorsRuntime]:
    clock = Clock(JUNE_2024)
    settings = isolated_settings(
        IndicatorsSettings, infra, stale_sweep_interval=0.2, **request.param
    )
    runtime, _app = build(settings, clock=clock)
    async with started(runtime):
        for tenant in (TENANT, "otherku"):
            await import_indicator_definitions(
                runtime.pool, plan_file(small_plan(tenant)), now=clock.now()
            )
        yield runtime


def status_changed(raw: bytes) -> Envelope[IndicatorStatusChanged]:
    return parse_event(raw, expect=IndicatorStatusChanged)


def reported(
    key: str,
    period: str,
    value: object = None,
    *,
    tenant: str = TENANT,
    idem: str | None = None,
    at: datetime | None = None,
    **kw: Any,
) -> Envelope[IndicatorReported]:
    return new_event(
        IndicatorReported(
            indicator_key=key,
            period=period,
            value=None if value is None else Decimal(str(value)),
            source="rpa-log",
            idempotency_key=idem or f"{key}:{period}:{value}",
            **kw,
        ),
        tenant=tenant,
        aggregate_id=key,
        producer="test-system",
        occurred_at=at,
    )


async def send(service: IndicatorsRuntime, infra: Infrastructure, *events: Any) -> None:
    topic = service.topic(topics.INDICATOR_REPORTED)
    messages = [(e.key, e.to_bytes()) if isinstance(e, Envelope) else (b"raw", e) for e in events]
    await produce(infra.kafka_bootstrap, topic, messages)


async def current_value(service: IndicatorsRuntime, key: str, period: str) -> Any:
    return await service.pool.fetchval(
        "select value from measurements where indicator_id = $1 and period = $2 and is_current",
        ids.indicator_id(TENANT, key),
        period,
    )


async def test_reports_become_statuses_published_on_kafka(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    await send(service, infra, reported("p1.rpa", "FY2023", 12, idem="k-1"))
    async with TopicReader(
        infra.kafka_bootstrap, service.topic(topics.INDICATOR_STATUS_CHANGED)
    ) as reader:

        async def announced() -> list[Envelope[IndicatorStatusChanged]]:
            events = [
                parse_event(r.value, expect=IndicatorStatusChanged) for r in await reader.poll()
            ]
            return [e for e in events if e.payload.indicator_key == "p1.rpa" and e.tenant == TENANT]

        [event] = await wait_until(announced, timeout=60, message="status_changed for p1.rpa")
    assert event.payload.to_status == "achieved" and event.payload.fiscal_year == 2023
    assert event.payload.figures.actual == 12 and event.payload.department_codes == ["IT推進課"]
    assert event.aggregate_id == str(ids.indicator_id(TENANT, "p1.rpa"))
    assert event.producer == "indicators"


async def test_duplicates_and_redeliveries_change_nothing(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    first = reported("p1.konbini", "FY2023", 28, idem="k-dup")
    resent_by_producer = reported("p1.konbini", "FY2023", 28, idem="k-dup")  # new event id
    await send(service, infra, first, first, resent_by_producer)
    marker = reported("p1.konbini", "FY2024", 31, idem="k-after-dup")
    await send(service, infra, marker)
    assert await wait_until(lambda: current_value(service, "p1.konbini", "FY2024"), timeout=60)
    count = await service.pool.fetchval(
        "select count(*) from measurements where idempotency_key = 'k-dup'"
    )
    assert count == 1


async def test_corrections_and_out_of_order_reports(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    t = datetime(2024, 6, 1, tzinfo=UTC)
    await send(
        service,
        infra,
        reported("p1.rpa", "FY2024", 5, idem="k-c1", at=t),
        reported(
            "p1.rpa", "FY2024", 13, idem="k-c3", at=t + timedelta(hours=2), is_correction=True
        ),
        reported("p1.rpa", "FY2024", 9, idem="k-c2", at=t + timedelta(hours=1)),  # arrives late
    )

    async def all_three() -> bool:
        n = await service.pool.fetchval(
            "select count(*) from measurements where idempotency_key like 'k-c_'"
        )
        return n == 3

    await wait_until(all_three, timeout=60, message="three reports stored")
    assert await current_value(service, "p1.rpa", "FY2024") == 13
    rows = await service.pool.fetch(
        """select idempotency_key, superseded_by is not null as superseded from measurements
           where idempotency_key like 'k-c_' order by occurred_at"""
    )
    assert [(r["idempotency_key"], r["superseded"]) for r in rows] == [
        ("k-c1", True),
        ("k-c2", True),
        ("k-c3", False),
    ]


def raw_event(**changes: Any) -> bytes:
    data = json.loads(reported("p1.rpa", "FY2023", 1, idem="raw").to_bytes())
    for path, value in changes.items():
        target = data
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is DELETE:
            del target[last]
        else:
            target[last] = value
    return json.dumps(data).encode()


DELETE = object()


async def test_every_kind_of_bad_input_goes_to_the_dead_letter_topic(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    topic = service.topic(topics.INDICATOR_REPORTED)
    await send(service, infra, reported("p1.rpa", "FY2023", 12, idem="k-reuse"))
    bad = [
        reported("p1.unknown", "FY2024", 1, idem="b-unknown"),
        reported("p1.rpa", "FY2024", 1, unit="件", idem="b-unit"),
        reported("p1.rpa", "FY2020", 1, idem="b-outside"),
        reported("p1.rpa", "FY2024", None, text_value="十数件", idem="b-text"),
        raw_event(payload__value="abc"),
        b'{"event_type": "indicator.reported", "tenant": ',
        raw_event(schema_version=7),
        raw_event(tenant=DELETE),
        reported("p1.rpa", "FY2024", 1, tenant="thirdku", idem="b-tenant"),
        reported("p1.rpa", "FY2023", 99, idem="k-reuse"),
    ]
    await send(service, infra, *bad)
    good = reported("p1.konbini", "FY2023", 40, idem="k-after-bad")
    await send(service, infra, good)
    assert await wait_until(
        lambda: service.pool.fetchval(
            "select 1 from measurements where idempotency_key = 'k-after-bad'"
        ),
        timeout=60,
    )
    async with TopicReader(infra.kafka_bootstrap, f"{topic}.dlq") as dlq:
        records = await dlq.wait_for(len(bad), timeout=60)
    reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in records)
    assert reasons == sorted(
        [
            "unknown_indicator",
            "unit_mismatch",
            "period_outside_plan",
            "non_numeric_value",
            "invalid_payload",
            "malformed_json",
            "unsupported_schema_version",
            "missing_tenant",
            "unknown_tenant",
            "idempotency_key_reused",
        ]
    )
    details = {
        dict(r.headers)["x-dlq-reason"].decode(): dict(r.headers)["x-dlq-detail"].decode()
        for r in records
    }
    assert "unit '件' does not match" in details["unit_mismatch"]
    assert "単位「件」" in details["unit_mismatch"]
    assert "tenant 'thirdku' has no indicators" in details["unknown_tenant"]
    assert all(dict(r.headers)["x-dlq-source-topic"].decode() == topic for r in records)
    metrics = await service.metrics()  # what /metrics serves
    assert re.search(r'suishin_consumer_dead_lettered_total\{[^}]*service="indicators"', metrics)
    assert "suishin_indicators_reports_accepted_total" in metrics
    # nothing of the refused reports was stored
    stored = await service.pool.fetchval(
        "select count(*) from measurements where idempotency_key like 'b-%'"
    )
    assert stored == 0


async def test_the_background_sweep_announces_overdue_reports(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    await send(
        service,
        infra,
        reported("p1.hours", "2024-04", 100, idem="k-h4"),
        reported("p1.hours", "2024-05", 100, idem="k-h5"),
    )
    assert await wait_until(lambda: current_value(service, "p1.hours", "2024-05"), timeout=60)
    clock = service.clock
    assert isinstance(clock, Clock)
    clock.set(datetime(2024, 8, 5, tzinfo=UTC))  # June's report was due on 30 July
    hours = str(ids.indicator_id(TENANT, "p1.hours"))
    async with TopicReader(
        infra.kafka_bootstrap, service.topic(topics.INDICATOR_STATUS_CHANGED)
    ) as reader:

        async def stale() -> list[IndicatorStatusChanged]:
            events = [
                parse_event(r.value, expect=IndicatorStatusChanged) for r in await reader.poll()
            ]
            return [
                e.payload
                for e in events
                if str(e.payload.indicator_id) == hours and e.payload.to_status == "stale"
            ]

        [event] = await wait_until(stale, timeout=30, message="a stale announcement")
    assert event.figures.actual == 200 and event.period == "FY2024"
    assert "2024年6月分の実績報告が期限" in event.reason


async def test_poison_messages_between_good_reports_are_dead_lettered_and_ingestion_goes_on(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    topic = service.topic(topics.INDICATOR_REPORTED)
    deep = b"[" * 100_000 + b"]" * 100_000
    envelope = reported("p1.rpa", "FY2023", 1, idem="poison").to_bytes()
    assert b'"value":"1"' in envelope and b'"comment":null' in envelope

    def changed(**fields: Any) -> bytes:
        data = json.loads(envelope)
        data.update(fields)
        return json.dumps(data).encode()

    t0 = datetime(2024, 6, 1, 12, tzinfo=UTC)
    original = reported("p1.sns", "FY2023", 10, idem="pc-original", at=t0)
    early_correction = reported(
        "p1.sns", "FY2023", 8, idem="pc-correction", at=t0 - timedelta(hours=1), is_correction=True
    )
    poison: dict[str, tuple[bytes | None, list[tuple[str, bytes]], str]] = {
        "tombstone": (None, [], "empty_message"),
        "deep-raw": (deep, [], "too_deeply_nested"),
        "deep-payload": (
            envelope.replace(b'"comment":null', b'"comment":' + deep),
            [],
            "too_deeply_nested",
        ),
        "version-list": (changed(schema_version=[1]), [], "invalid_envelope"),
        "version-object": (changed(schema_version={"v": 1}), [], "invalid_envelope"),
        "header": (envelope, [("x-system", b"\x93\xfa\x96\x7b")], "invalid_header"),
        "one-mb": (changed(producer="x" * 1_000_000), [], "too_large"),
        "exponent": (
            envelope.replace(b'"value":"1"', b'"value":1e100000'),
            [],
            "number_out_of_range",
        ),
        "digits": (
            envelope.replace(b'"value":"1"', b'"value":' + b"9" * 100_001),
            [],
            "number_out_of_range",
        ),
        "digits-string": (
            envelope.replace(b'"value":"1"', b'"value":"1e100000"'),
            [],
            "invalid_payload",
        ),
        "types": (
            changed(event_type=["indicator.reported"], occurred_at=1),
            [],
            "invalid_envelope",
        ),
        "tenant": (
            reported("p1.rpa", "FY2023", 1, tenant="nowhereku", idem="pc-tenant").to_bytes(),
            [],
            "unknown_tenant",
        ),
    }
    goods = [reported("p1.rpa", "FY2023", i, idem=f"pg-{i}") for i in range(len(poison) + 1)]
    batch: list[Any] = [(goods[0].key, goods[0].to_bytes()), (original.key, original.to_bytes())]
    for (name, (value, headers, _)), good in zip(poison.items(), goods[1:], strict=True):
        batch.append((f"poison-{name}".encode(), value, headers))
        batch.append((good.key, good.to_bytes()))
    batch.append((early_correction.key, early_correction.to_bytes()))
    await produce(infra.kafka_bootstrap, topic, batch)  # one batch, poison between good reports

    async def all_good_applied() -> bool:
        stored = await service.pool.fetchval(
            "select count(*) from measurements where idempotency_key like 'pg-%'"
        )
        return stored == len(goods)

    await wait_until(all_good_applied, timeout=60, message="every good report applied")

    # one correction rule: a correction supersedes the current value, recorded earlier or not.
    # The original may be applied a poll (or, with parts, a commit) before the correction, so
    # its value can be current for a moment: wait for the correction's, not the first value.
    async def corrected() -> bool:
        return await current_value(service, "p1.sns", "FY2023") == 8

    await wait_until(corrected, timeout=60, message="the correction current")
    rows = await service.pool.fetch(
        """select idempotency_key, is_current, superseded_by is not null as superseded
           from measurements where idempotency_key like 'pc-%' order by idempotency_key"""
    )
    assert [tuple(r) for r in rows] == [
        ("pc-correction", True, False),
        ("pc-original", False, True),
    ]
    async with TopicReader(infra.kafka_bootstrap, f"{topic}.dlq") as dlq:

        async def all_dead_lettered() -> dict[str, Any]:
            found = {
                r.key.decode(): r
                for r in await dlq.poll()
                if r.key and r.key.startswith(b"poison-")
            }
            return found if len(found) == len(poison) else {}

        found = await wait_until(
            all_dead_lettered, timeout=60, message="every poison dead-lettered"
        )
    reasons = {
        k.removeprefix("poison-"): dict(r.headers)["x-dlq-reason"].decode()
        for k, r in found.items()
    }
    assert reasons == {name: reason for name, (_, _, reason) in poison.items()}
    big = {k: v.decode() for k, v in found["poison-one-mb"].headers}
    assert big["x-dlq-truncated"] == "true" and int(big["x-dlq-original-size"]) > 1_000_000
    assert "x-dlq-source-offset" in big and "x-dlq-source-partition" in big
    # nothing of the poison was stored, and the consumer goes on
    assert not await service.pool.fetchval(
        "select count(*) from measurements where idempotency_key in ('poison', 'pc-tenant')"
    )
    after = reported("p1.rpa", "FY2023", 77, idem="pg-after")
    await send(service, infra, after)
    assert await wait_until(
        lambda: service.pool.fetchval(
            "select 1 from measurements where idempotency_key = 'pg-after'"
        ),
        timeout=60,
    )
    [consumer] = service.consumers
    assert (await consumer.health())["stalled"] is None


async def test_reported_periods_in_any_form_the_api_takes_are_stored_canonical(
    service: IndicatorsRuntime, infra: Infrastructure
) -> None:
    # raw JSON as a system outside Python sends it: 令和5年度, R5 and a month in 和暦
    forms = {"p-wareki": "令和5年度", "p-short": "R5", "p-month": "令和5年5月"}
    events = [
        raw_event(payload__period=period, payload__idempotency_key=idem, event_id=str(uuid4()))
        for idem, period in forms.items()
    ]
    await send(service, infra, *events, raw_event(payload__period="昨年", event_id=str(uuid4())))

    async def stored() -> dict[str, str] | None:
        rows = await service.pool.fetch(
            "select idempotency_key, period from measurements where idempotency_key like 'p-%'"
        )
        return {r["idempotency_key"]: r["period"] for r in rows} if len(rows) == 3 else None

    assert await wait_until(stored, timeout=60, message="three periods stored") == {
        "p-wareki": "FY2023",
        "p-short": "FY2023",
        "p-month": "2023-05",
    }
    topic = service.topic(topics.INDICATOR_REPORTED)
    async with TopicReader(infra.kafka_bootstrap, f"{topic}.dlq") as dlq:
        seen: list[dict[str, bytes]] = []

        async def refused() -> dict[str, bytes] | None:
            seen.extend(dict(r.headers) for r in await dlq.poll())
            return next((h for h in seen if "昨年".encode() in h["x-dlq-detail"]), None)

        headers = await wait_until(refused, timeout=60, message="the unreadable period refused")
    assert headers["x-dlq-reason"] == b"invalid_payload"
    assert "報告期間として読めません" in headers["x-dlq-detail"].decode()
