"""The envelope parser's cached steps give the same answers as the uncached ones."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from suishin.contracts import events
from suishin.contracts.events import EventRejected, IndicatorReported, new_event, parse_event


def body(period: str) -> bytes:
    event = new_event(
        IndicatorReported(
            indicator_key="k", period="FY2024", value=Decimal(1), source="s", idempotency_key="i"
        ),
        tenant="cacheku",
        aggregate_id="k",
        producer="test",
    )
    data = json.loads(event.to_bytes())
    data["payload"]["period"] = period
    return json.dumps(data, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    ("sent", "stored"), [("令和6年8月", "2024-08"), ("R3", "FY2021"), ("2024-08-01", "2024-08-01")]
)
def test_periods_read_through_the_cache_are_canonical_every_time(sent: str, stored: str) -> None:
    for _ in range(2):  # the second read is a cache hit
        assert parse_event(body(sent), expect=IndicatorReported).payload.period == stored


def test_a_refused_period_is_refused_every_time_and_long_texts_are_not_cached() -> None:
    for _ in range(2):
        with pytest.raises(EventRejected) as refused:
            parse_event(body("2024-13"), expect=IndicatorReported)
        assert refused.value.reason == "invalid_payload"
    raw = body("FY2024" + " " * 100)
    events._cached_period.cache_clear()
    try:
        parse_event(raw, expect=IndicatorReported)
    except EventRejected:
        pass
    assert events._cached_period.cache_info().currsize == 0
