"""The trace fields kit gives every event it enqueues, and the switch from the OTEL_* environment
(the chain across the services is tests/gateway/test_gateway_observability.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from suishin.contracts.events import Envelope, IndicatorReported, TraceContext, new_event
from suishin.kit import tracing

TRACE_A = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACE_B = "0af7651916cd43dd8448eb211c80319c"


def event(
    tenant: str, aggregate: str, traceparent: str | None = None, **trace: Any
) -> Envelope[Any]:
    e = new_event(
        IndicatorReported(
            indicator_key=aggregate,
            period="FY2024",
            value=Decimal(1),
            source="s",
            idempotency_key=aggregate,
        ),
        tenant=tenant,
        aggregate_id=aggregate,
        producer="test",
    )
    return e.model_copy(update={"trace": TraceContext(traceparent=traceparent, **trace)})


def test_a_root_event_is_its_own_cause_and_correlation() -> None:
    stamped = tracing.stamp(event("itabashi", "a"))
    assert stamped.trace.causation_id == stamped.event_id
    assert stamped.trace.correlation_id == str(stamped.event_id)
    assert stamped.trace.traceparent and stamped.trace.traceparent.endswith("-00")  # unsampled


def test_a_request_gives_its_correlation_id() -> None:
    with tracing.correlated("req-7"):
        stamped = tracing.stamp(event("itabashi", "a"))
    assert stamped.trace.correlation_id == "req-7"


def test_fields_already_set_are_kept() -> None:
    original = event("itabashi", "a", f"00-{TRACE_A}-00f067aa0ba902b7-01", correlation_id="c")
    stamped = tracing.stamp(original)
    assert stamped.trace.traceparent == original.trace.traceparent
    assert stamped.trace.correlation_id == "c"


def test_in_a_batch_each_emitted_event_follows_its_own_cause() -> None:
    first = event("itabashi", "ind-1", f"00-{TRACE_A}-00f067aa0ba902b7-01", correlation_id="root-a")
    second = event("bunkyo", "ind-2", f"00-{TRACE_B}-b7ad6b7169203331-01")
    with tracing.handling("indicator.reported", "indicators:indicator.reported", [first, second]):
        a = tracing.stamp(event("itabashi", "ind-1"))
        b = tracing.stamp(event("bunkyo", "other-aggregate"))
    assert (a.trace.causation_id, a.trace.correlation_id) == (first.event_id, "root-a")
    assert tracing.trace_id_of(a) == TRACE_A
    # another tenant's event of the batch: its own cause, trace and correlation
    assert (b.trace.causation_id, b.trace.correlation_id) == (second.event_id, str(second.event_id))
    assert tracing.trace_id_of(b) == TRACE_B


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
    ],
)
def test_exporters_follow_the_standard_environment(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], names: list[str]
) -> None:
    for name in (
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing._exporter_names() == names


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    if not tracing.active():  # another test of this process may have installed a provider
        assert tracing.configure_tracing("plans") is False
        assert not tracing.active()
