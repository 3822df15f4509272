"""Tracing with OpenTelemetry, and the trace fields of every event the services emit.

Off by default: without an exporter in the standard ``OTEL_*`` environment the API's no-op
tracer is used (no spans, no middleware). :func:`configure_tracing` installs the SDK when
``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``) or an OTLP endpoint is set
(``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); sampling and the
resource follow the SDK's own variables (``OTEL_TRACES_SAMPLER``, ``OTEL_SERVICE_NAME``, ...).
Tests install a provider with an in-memory exporter through :func:`install`.

Across Kafka the context travels in the envelope (``trace.traceparent``, W3C) and in the record
headers (``traceparent``): :func:`stamp` fills an event at outbox enqueue from the current span,
and :func:`handling` (around a consumer's handler) continues the trace of the events it applies.
A batch gets one span, child of its first event's context, with links to the other events'
contexts: one span per batch is what the handler does (one transaction), and the links keep every
producer reachable. An event enqueued while a batch is handled belongs to the trace of its cause
(the batch span when the cause is the first event, else the cause's own context).

``correlation_id`` is the id of the root of a chain (the first event, or the request's
``x-correlation-id``) and is copied along; ``causation_id`` is the id of the event being handled
that caused this one. A root event is its own cause (the usual convention), so both are never
null. In a batch the cause of an emitted event is the handled event of the same tenant and
aggregate, else the only one of that tenant, else the first of that tenant (then approximate).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from suishin.contracts.events import Envelope, TraceContext

log = logging.getLogger(__name__)

TRACEPARENT_HEADER = "traceparent"
CORRELATION_HEADER = "x-correlation-id"

tracer = trace.get_tracer("suishin")
_propagator = TraceContextTextMapPropagator()

_handling: ContextVar[tuple[Envelope[Any], ...]] = ContextVar("suishin_handling", default=())
_handling_index: ContextVar[list[Any] | None] = ContextVar("suishin_handling_index", default=None)
_correlation: ContextVar[str | None] = ContextVar("suishin_correlation", default=None)
_active = False


def active() -> bool:
    """Whether spans are recorded in this process (an SDK provider is installed)."""
    return _active


def configure_tracing(service: str) -> bool:
    """Install the SDK with the exporters the ``OTEL_*`` environment asks for; False (tracing
    off) when it asks for none."""
    if _active:
        return True
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    names = _exporter_names()
    if not names:
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SpanExporter,
    )

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
    provider = TracerProvider(resource=Resource.create(attributes), sampler=sampler())
    for name in names:
        exporter: SpanExporter
        if name == "otlp":
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        elif name == "console":
            exporter = ConsoleSpanExporter()
        else:
            log.warning("unsupported OTEL_TRACES_EXPORTER entry ignored", extra={"name": name})
            continue
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    log.info("tracing on", extra={"exporters": names})
    return True


def _exporter_names() -> list[str]:
    configured = os.environ.get("OTEL_TRACES_EXPORTER")
    if configured is None:
        endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
            "OTEL_EXPORTER_OTLP_ENDPOINT"
        )
        return ["otlp"] if endpoint else []
    return [
        n.strip().lower() for n in configured.split(",") if n.strip().lower() not in ("", "none")
    ]


def sampler() -> Any:
    """The sampler of ``OTEL_TRACES_SAMPLER`` (default: parent-based, always on), except that a
    database statement outside any trace starts none: the outbox relay's polling, background
    sweeps and readiness checks would otherwise make a trace per query."""
    from opentelemetry.sdk.trace.sampling import (
        Decision,
        Sampler,
        SamplingResult,
        _get_from_env_or_default,
    )

    inner = _get_from_env_or_default()

    class NoDatabaseRoots(Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: Any = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if not parent.is_valid and attributes and "db.system" in attributes:
                return SamplingResult(Decision.DROP)
            return inner.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"NoDatabaseRoots{{{inner.get_description()}}}"

    return NoDatabaseRoots()


def install(provider: Any) -> None:
    """Make ``provider`` (an SDK ``TracerProvider``) the process's, and trace asyncpg."""
    global _active
    if _active:
        return
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    trace.set_tracer_provider(provider)
    AsyncPGInstrumentor().instrument(tracer_provider=provider)
    _active = True


# --- context of the current request or handled batch --------------------------------------------


def current_ids() -> dict[str, str]:
    """trace_id, span_id and correlation_id of what runs now (for log lines)."""
    out: dict[str, str] = {}
    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        out["trace_id"] = format(ctx.trace_id, "032x")
        out["span_id"] = format(ctx.span_id, "016x")
    else:
        handled = _handling.get()
        parsed = _parse(handled[0].trace.traceparent) if handled else None
        if parsed is not None:
            out["trace_id"] = parsed[0]
    correlation = correlation_id()
    if correlation:
        out["correlation_id"] = correlation
    return out


def correlation_id() -> str | None:
    handled = _handling.get()
    if handled:
        first = handled[0]
        return first.trace.correlation_id or str(first.event_id)
    return _correlation.get()


@contextlib.contextmanager
def correlated(value: str | None) -> Iterator[None]:
    """Run with ``value`` as the correlation id (an HTTP request's)."""
    token = _correlation.set(value)
    try:
        yield
    finally:
        _correlation.reset(token)


def new_correlation_id() -> str:
    return secrets.token_hex(16)


# --- Kafka ------------------------------------------------------------------------------------


def context_of(event: Envelope[Any]) -> Any:
    """The OpenTelemetry context carried by ``event`` (empty when it carries none)."""
    carrier = {TRACEPARENT_HEADER: event.trace.traceparent} if event.trace.traceparent else {}
    return _propagator.extract(carrier)


@contextlib.contextmanager
def handling(topic: str, consumer: str, events: Sequence[Envelope[Any]]) -> Iterator[None]:
    """Around a consumer's handler: one CONSUMER span for the batch (parent: the first event's
    context; links: the others'), and the events as the causes of what the handler enqueues."""
    token = _handling.set(tuple(events))
    index_token = _handling_index.set([])
    try:
        if not _active:
            yield
            return
        parent = context_of(events[0]) if events else None
        links = []
        seen = set()
        for event in events[1:]:
            span_context = trace.get_current_span(context_of(event)).get_span_context()
            if span_context.is_valid and span_context.span_id not in seen:
                seen.add(span_context.span_id)
                links.append(Link(span_context))
        with tracer.start_as_current_span(
            f"{topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "messaging.consumer.group.name": consumer,
                "messaging.batch.message_count": len(events),
            },
        ):
            yield
    finally:
        _handling_index.reset(index_token)
        _handling.reset(token)


@contextlib.contextmanager
def publishing(records: Sequence[tuple[str, str | None, datetime]]) -> Iterator[None]:
    """PRODUCER spans of outbox rows being published ((topic, traceparent, created_at) each), in
    their events' traces: from the row's creation (its wait in the outbox) to the broker's
    acknowledgement."""
    if not _active:
        yield
        return
    spans = []
    for topic, traceparent, created_at in records:
        context = _propagator.extract({TRACEPARENT_HEADER: traceparent}) if traceparent else None
        spans.append(
            tracer.start_span(
                f"{topic} publish",
                context=context,
                kind=SpanKind.PRODUCER,
                start_time=int(created_at.timestamp() * 1e9),
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                },
            )
        )
    try:
        yield
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, repr(exc)))
        raise
    finally:
        for span in spans:
            span.end()


@contextlib.contextmanager
def received(event: Envelope[Any], name: str, **attributes: Any) -> Iterator[None]:
    """A CONSUMER span continuing ``event``'s trace (e.g. the gateway's live push)."""
    if not _active:
        yield
        return
    with tracer.start_as_current_span(
        name, context=context_of(event), kind=SpanKind.CONSUMER, attributes=attributes
    ):
        yield


def stamp(event: Envelope[Any]) -> Envelope[Any]:
    """``event`` with its trace fields filled (those already set are kept)."""
    t = event.trace
    if t.traceparent and t.correlation_id and t.causation_id:
        return event
    cause = _cause_of(event)
    if cause is not None:
        correlation = cause.trace.correlation_id or str(cause.event_id)
        causation = cause.event_id
    else:
        correlation = _correlation.get() or str(event.event_id)
        causation = event.event_id
    return event.model_copy(
        update={
            "trace": TraceContext(
                traceparent=t.traceparent or _traceparent(cause),
                correlation_id=t.correlation_id or correlation,
                causation_id=t.causation_id or causation,
            )
        }
    )


def _cause_of(event: Envelope[Any]) -> Envelope[Any] | None:
    """The handled event of the same tenant and aggregate, else the tenant's first, else the
    batch's first."""
    handled = _handling.get()
    if not handled:
        return None
    by_aggregate, by_tenant = _causes(handled)
    cause = by_aggregate.get((event.tenant, event.aggregate_id))
    if cause is None:
        cause = by_tenant.get(event.tenant, handled[0])
    return cause


_Causes = tuple[dict[tuple[str, str], Envelope[Any]], dict[str, Envelope[Any]]]


def _causes(handled: tuple[Envelope[Any], ...]) -> _Causes:
    # Indexed once per handled batch (each change a batch causes looks up its cause).
    memo = _handling_index.get()
    if memo:
        return memo[0]
    by_aggregate: dict[tuple[str, str], Envelope[Any]] = {}
    by_tenant: dict[str, Envelope[Any]] = {}
    for e in handled:
        by_aggregate.setdefault((e.tenant, e.aggregate_id), e)
        by_tenant.setdefault(e.tenant, e)
    if memo is not None:
        memo.append((by_aggregate, by_tenant))
    return by_aggregate, by_tenant


def _traceparent(cause: Envelope[Any] | None) -> str:
    current = trace.get_current_span().get_span_context()
    incoming = cause.trace.traceparent if cause is not None else None
    parsed = _parse(incoming)
    if current.is_valid and (parsed is None or int(parsed[0], 16) == current.trace_id):
        carrier: dict[str, str] = {}
        _propagator.inject(carrier)
        if TRACEPARENT_HEADER in carrier:
            return carrier[TRACEPARENT_HEADER]
    if incoming and parsed is not None:
        return incoming  # another event of the batch, or tracing off here: its trace goes on
    # No context at all (tracing off, a root event): an unsampled context, so the chain that
    # follows still shares one trace id in the events and the logs.
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def _parse(traceparent: str | None) -> tuple[str, str] | None:
    if not traceparent:
        return None
    parts = traceparent.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    return parts[1], parts[2]


def trace_id_of(event: Envelope[Any]) -> str | None:
    parsed = _parse(event.trace.traceparent)
    return parsed[0] if parsed else None


__all__ = [
    "CORRELATION_HEADER",
    "TRACEPARENT_HEADER",
    "active",
    "configure_tracing",
    "context_of",
    "correlated",
    "correlation_id",
    "current_ids",
    "handling",
    "install",
    "publishing",
    "received",
    "sampler",
    "stamp",
    "trace_id_of",
    "tracer",
]
