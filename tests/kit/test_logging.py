"""Every log line carries the trace, span and correlation ids of what runs."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from decimal import Decimal

import pytest
from opentelemetry.sdk.trace import TracerProvider

from suishin.contracts.events import IndicatorReported, new_event
from suishin.kit import tracing
from suishin.kit.logging import JsonFormatter, PlainFormatter, configure_logging

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def record(message: str = "applied") -> logging.LogRecord:
    return logging.LogRecord("suishin.test", logging.INFO, __file__, 1, message, (), None)


def event(traceparent: str | None = None) -> object:
    e = new_event(
        IndicatorReported(
            indicator_key="k", period="FY2024", value=Decimal(1), source="s", idempotency_key="i"
        ),
        tenant="itabashi",
        aggregate_id="k",
        producer="test",
    )
    return e.model_copy(update={"trace": e.trace.model_copy(update={"traceparent": traceparent})})


def test_a_handled_event_gives_its_trace_and_correlation_to_the_log_line() -> None:
    handled = event(f"00-{TRACE}-00f067aa0ba902b7-01")
    with tracing.handling("indicator.reported", "indicators:indicator.reported", [handled]):  # type: ignore[list-item]
        line = json.loads(JsonFormatter("indicators").format(record()))
    assert line["trace_id"] == TRACE
    assert line["correlation_id"] == str(handled.event_id)  # type: ignore[attr-defined]


def test_a_span_gives_trace_and_span_ids_and_a_request_its_correlation_id() -> None:
    tracer = TracerProvider().get_tracer("test")  # a local provider: nothing global changes
    with tracer.start_as_current_span("request") as span, tracing.correlated("req-1"):
        line = json.loads(JsonFormatter("gateway").format(record()))
        plain = PlainFormatter("gateway").format(record())
    ctx = span.get_span_context()
    assert line["trace_id"] == format(ctx.trace_id, "032x")
    assert line["span_id"] == format(ctx.span_id, "016x")
    assert line["correlation_id"] == "req-1"
    assert (
        f"trace_id='{format(ctx.trace_id, '032x')}'" in plain and "correlation_id='req-1'" in plain
    )


def test_outside_any_context_a_line_has_no_ids() -> None:
    line = json.loads(JsonFormatter("plans").format(record()))
    assert not {"trace_id", "span_id", "correlation_id"} & set(line)


@pytest.fixture
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)


def test_http_client_requests_are_not_logged_at_info(restored_logging: None) -> None:
    configure_logging("gateway", "INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("suishin.gateway.subgraphs").isEnabledFor(logging.INFO)
