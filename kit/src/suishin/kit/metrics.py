"""Prometheus metrics of a process: one registry (prometheus_client's default, with its process,
platform and GC collectors), the platform's histograms and counters, and the figures read from
live objects (consumers, outbox relays, the gateway's clients) at scrape time
(:class:`Source`).

``/metrics`` answers the Prometheus text format, or OpenMetrics when the scraper asks for
``application/openmetrics-text`` (:func:`exposition`). Names are listed in docs/operations.md,
and the dashboard and alert rules in infra/observability/ query only these.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suishin.contracts.events import Envelope

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HTTP_REQUEST_SECONDS = Histogram(
    "suishin_http_request_duration_seconds",
    "HTTP requests served, by service, method, route and status code",
    ["service", "method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)
SUBGRAPH_CALL_SECONDS = Histogram(
    "suishin_gateway_subgraph_call_duration_seconds",
    "Calls from the gateway to a subgraph, by subgraph and outcome (ok, error, timeout, "
    "unavailable)",
    ["subgraph", "outcome"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_BATCH_SECONDS = Histogram(
    "suishin_consumer_batch_duration_seconds",
    "Time to apply one batch of records (parse, handler, dead letters), by consumer and topic",
    ["service", "consumer", "topic"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_RECORDS = Counter(
    "suishin_consumer_records",
    "Records taken from Kafka by a consumer, by topic",
    ["service", "consumer", "topic"],
)
DEAD_LETTERS = Counter(
    "suishin_dead_letters",
    "Records sent to a dead-letter topic, by source topic, consumer and reason",
    ["topic", "consumer", "reason"],
)
NOTIFICATIONS = Counter(
    "suishin_notifications",
    "Notification deliveries announced (notification.delivered), by channel and outcome",
    ["channel", "outcome"],
)
LIVE_PUSHES = Counter(
    "suishin_gateway_live_pushes",
    "Events offered to live subscribers by the gateway, by event type",
    ["event_type"],
)


def count_emitted(events: Sequence[Envelope[Any]]) -> None:
    """Counts what the enqueued events announce (notification outcomes)."""
    for event in events:
        if event.event_type == "notification.delivered":
            payload = event.payload
            NOTIFICATIONS.labels(
                getattr(payload, "channel", "unknown"), getattr(payload, "status", "unknown")
            ).inc()


# --- figures read from live objects at scrape time -------------------------------------------


class Source(Protocol):
    """Something whose figures its own /metrics adds to the registry's (a service runtime, the
    gateway): read at scrape time, never registered, so several in one process (tests) never
    clash."""

    async def refresh_metrics(self) -> None: ...

    def metric_families(self) -> Iterable[Metric]: ...


class _With(Collector):
    """The process registry plus a source's families, those of one name merged into one."""

    def __init__(self, families: Iterable[Metric]) -> None:
        merged: dict[str, Metric] = {}
        for family in families:
            if family.name in merged:
                merged[family.name].samples.extend(family.samples)
            else:
                merged[family.name] = family
        self.families = list(merged.values())

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()
        yield from self.families


def gauge(name: str, documentation: str, labels: dict[str, str], value: float) -> Metric:
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


def counter(name: str, documentation: str, labels: dict[str, str], value: float) -> Metric:
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    family.add_metric(list(labels.values()), value)
    return family


async def exposition(accept: str | None, source: Source | None = None) -> tuple[bytes, str]:
    """The registry, plus ``source``'s figures, in the format ``accept`` asks for:
    (body, content type)."""
    registry: CollectorRegistry = REGISTRY
    if source is not None:
        await source.refresh_metrics()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_With(source.metric_families()))
    encoder, content_type = choose_encoder(accept or "")
    return encoder(registry), content_type


# --- HTTP ------------------------------------------------------------------------------------


class RequestMetrics:
    """ASGI middleware: request latency by route (the app's own paths; others are ``other``)."""

    def __init__(self, app: ASGIApp, service: str, routes: Iterable[str]) -> None:
        self.app = app
        self.service = service
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope.get("path", "")
            HTTP_REQUEST_SECONDS.labels(
                self.service,
                scope.get("method", ""),
                path if path in self.routes else "other",
                str(status),
            ).observe(time.perf_counter() - start)


__all__ = [
    "CONSUMER_BATCH_SECONDS",
    "CONSUMER_RECORDS",
    "DEAD_LETTERS",
    "HTTP_REQUEST_SECONDS",
    "LIVE_PUSHES",
    "NOTIFICATIONS",
    "SUBGRAPH_CALL_SECONDS",
    "Metric",
    "RequestMetrics",
    "count_emitted",
    "counter",
    "exposition",
    "gauge",
]
