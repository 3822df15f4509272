"""Observability of the platform, checked with the ecosystem's own tools.

Tracing: one trace per report, across Kafka: an external ``indicator.reported`` goes through
indicators, plans and notifications to the gateway's live push, and every span and every event of
that chain shares one trace id; correlation and causation ids link the events back to the report.
Metrics: /metrics of the gateway and of a service parse as OpenMetrics (the official parser),
with latency histograms and consumer lag. Answers: large ones compressed, JSON in UTF-8.

The three services and the gateway run in-process on the real broker and PostgreSQL, with the
OpenTelemetry SDK and an in-memory exporter (tracing is off unless a provider is installed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import (
    text_string_to_metric_families as text_string_to_metric_families_prom,
)

from suishin.contracts import ids, topics
from suishin.contracts.events import Envelope, IndicatorReported, new_event, parse_event
from suishin.contracts.planfile import load_plan_file
from suishin.contracts.topics import dead_letter_topic
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)
from suishin.gateway.app import build as build_gateway
from suishin.gateway.settings import GatewaySettings
from suishin.indicators.app import build as build_indicators
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit import tracing
from suishin.kit.auth import issue_token
from suishin.notifications.app import build as build_notifications
from suishin.notifications.directory import import_directory, load_directory
from suishin.notifications.settings import NotificationsSettings
from suishin.plans.app import build as build_plans
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

pytestmark = pytest.mark.integration

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
PLAN = DATASETS / "itabashi-dx2025-late.yaml"
DIRECTORY = DATASETS / "directory" / "itabashi.yaml"
MEASURE = "基本方針Ⅰ/施策1"  # owned by IT推進課, four yearly workloads
YEAR = 2024


@pytest.fixture(scope="module")
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    provider = TracerProvider(sampler=tracing.sampler())
    provider.add_span_processor(SimpleSpanProcessor(spans))
    tracing.install(provider)  # once per process; later tests record into a stopped exporter
    yield spans
    spans.shutdown()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def chain(infra: Infrastructure, exporter: InMemorySpanExporter) -> AsyncIterator[Any]:
    prefix = "ttr" + uuid.uuid4().hex[:6]
    plans_rt, plans_app = build_plans(isolated_settings(PlansSettings, infra, prefix=prefix))
    ind_rt, ind_app = build_indicators(
        isolated_settings(IndicatorsSettings, infra, prefix=prefix, stale_sweep_enabled=False)
    )
    notes_rt, notes_app = build_notifications(
        isolated_settings(NotificationsSettings, infra, prefix=prefix, grouping_window_seconds=0),
        background=False,
    )
    plan_file = load_plan_file(PLAN)
    gateway_settings = isolated_settings(GatewaySettings, infra, prefix=prefix)
    gateway = build_gateway(
        gateway_settings,
        transports={
            "plans": httpx.ASGITransport(app=plans_app),
            "indicators": httpx.ASGITransport(app=ind_app),
            "notifications": httpx.ASGITransport(app=notes_app),
        },
    )
    hub = gateway.state.hub
    async with started(plans_rt), started(ind_rt), started(notes_rt):
        await import_plan_file(plans_rt.pool, plan_file)
        await import_indicator_definitions(ind_rt.pool, plan_file)
        await import_directory(notes_rt.pool, load_directory(DIRECTORY))
        await hub.start()
        pushed: list[Envelope[Any]] = []

        async def listen() -> None:
            async for event in hub.events(topics.NOTIFICATION_DELIVERED, lambda _e: True):
                pushed.append(event)

        listener = asyncio.create_task(listen())
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
            ) as client:
                yield SimpleNamespace(
                    plans=plans_rt,
                    indicators_app=ind_app,
                    indicators=ind_rt,
                    notifications=notes_rt,
                    runtimes=(ind_rt, plans_rt, notes_rt),
                    plan_file=plan_file,
                    pushed=pushed,
                    client=client,
                    gateway_settings=gateway_settings,
                    bootstrap=infra.kafka_bootstrap,
                )
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await hub.stop()


async def outbox_events(runtime: Any) -> list[Envelope[Any]]:
    rows = await runtime.pool.fetch("select body from outbox order by id")
    return [parse_event(bytes(r["body"])) for r in rows]


async def quiet(chain: Any) -> bool:
    """Nothing left to publish or to consume anywhere."""
    for runtime in chain.runtimes:
        pending = await runtime.pool.fetchval(
            "select count(*) from outbox where published_at is null"
        )
        lags = [(await c.health())["lag"] for c in runtime.consumers]
        if pending or any(lag != 0 for lag in lags):
            return False
    return True


def reported(key: str, value: int, *, traceparent: str | None) -> Envelope[IndicatorReported]:
    event = new_event(
        IndicatorReported(
            indicator_key=key,
            period=f"FY{YEAR}",
            value=Decimal(value),
            source="rpa-log",
            idempotency_key=f"trace-{key}-{uuid.uuid4().hex[:6]}",
        ),
        tenant="itabashi",
        aggregate_id=key,
        producer="external-system",
    )
    return event.model_copy(
        update={"trace": event.trace.model_copy(update={"traceparent": traceparent})}
    )


def spans_of(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.context is not None and format(s.context.trace_id, "032x") == trace_id
    ]


async def test_one_report_is_one_trace_from_kafka_to_the_live_push(
    chain: Any, exporter: InMemorySpanExporter
) -> None:
    workloads = [
        i for i in chain.plan_file.indicators if any(n.startswith(MEASURE + "/") for n in i.nodes)
    ]
    targets = {i.key: next(t.value for t in i.targets if t.fiscal_year == YEAR) for i in workloads}
    last = next(iter(targets))
    topic = chain.indicators.topic(topics.INDICATOR_REPORTED)
    # One workload far below its target (the measure fails on it alone: the others have no
    # data yet); the external system sends its own trace context (W3C traceparent).
    trace_id = uuid.uuid4().hex
    root = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    report = reported(last, int(targets[last]) // 10, traceparent=root)
    await produce(chain.bootstrap, topic, [(report.key, report.to_bytes())])

    async def pushed_live() -> list[Envelope[Any]]:
        return [
            e
            for e in chain.pushed
            if tracing.trace_id_of(e) == trace_id and e.payload.kind == "measure_failing"
        ]

    [delivered] = (await wait_until(pushed_live, timeout=120, message="the live push"))[:1]

    # The events: each caused by the previous one, all of one trace and one correlation.
    by_id: dict[uuid.UUID, tuple[str, Envelope[Any]]] = {}
    for name, runtime in (("indicators", chain.indicators), ("plans", chain.plans)):
        for event in await outbox_events(runtime):
            by_id[event.event_id] = (name, event)
    for event in await outbox_events(chain.notifications):
        by_id[event.event_id] = ("notifications", event)
    path = []
    event = by_id[delivered.event_id][1]
    while event.trace.causation_id != report.event_id:
        assert tracing.trace_id_of(event) == trace_id, event
        assert event.trace.correlation_id == str(report.event_id), event
        name, _ = by_id[event.event_id]
        path.append((name, event.event_type))
        assert event.trace.causation_id in by_id, f"cause of {event.event_type} not found"
        event = by_id[event.trace.causation_id][1]
    assert tracing.trace_id_of(event) == trace_id
    path.append((by_id[event.event_id][0], event.event_type))
    services = [name for name, _ in path]
    assert services[0] == "notifications" and services[-1] == "indicators", path
    assert "plans" in services, path  # the failing grade came from the plans service

    # The spans: a consumer span in each service, their database work, and the live push.
    async def push_span() -> bool:
        return any(s.name.endswith("live push") for s in spans_of(exporter, trace_id))

    await wait_until(push_span, timeout=30, message="the live push span")
    spans = spans_of(exporter, trace_id)
    names = {s.name for s in spans}
    consumers = {
        str(s.attributes.get("messaging.consumer.group.name", "")).split(":")[0]
        for s in spans
        if s.name.endswith(" process") and s.attributes
    }
    assert {"indicators", "plans", "notifications"} <= consumers, names
    assert any(n.endswith("notification.delivered live push") for n in names), names
    # each event's wait in the outbox and its publication, in the same trace
    producers = [s.name for s in spans if s.kind.name == "PRODUCER"]
    assert any("indicator.status_changed publish" in n for n in producers), producers
    assert any("notification.delivered publish" in n for n in producers), producers
    # no trace starts at a lone database statement (the relay's polling, readiness checks)
    lone = [
        s.name
        for s in exporter.get_finished_spans()
        if s.parent is None and s.attributes and "db.system" in s.attributes
    ]
    assert not lone, lone[:5]
    database = [s for s in spans if s.attributes and s.attributes.get("db.system") == "postgresql"]
    assert len(database) >= 3, names
    # The records on Kafka carry the same context in their headers.
    [status_row] = [
        r
        for r in await chain.indicators.pool.fetch("select body, headers from outbox")
        if parse_event(bytes(r["body"])).trace.causation_id == report.event_id
    ][:1]
    assert status_row["headers"][tracing.TRACEPARENT_HEADER].split("-")[1] == trace_id


async def test_a_report_through_the_gateway_is_one_trace_over_http_and_the_database(
    chain: Any, exporter: InMemorySpanExporter
) -> None:
    other = next(
        i
        for i in chain.plan_file.indicators
        if not any(n.startswith(MEASURE + "/") for n in i.nodes)
        and any(t.fiscal_year == YEAR and t.value for t in i.targets)
    )
    target = next(t.value for t in other.targets if t.fiscal_year == YEAR)
    token = issue_token(
        chain.gateway_settings, subject="jimukyoku@itabashi", tenant="itabashi", roles=["admin"]
    )
    trace_id = uuid.uuid4().hex
    answer = await chain.client.post(
        "/graphql",
        json={
            "query": """mutation($input: ReportActualInput!) {
                reportActual(input: $input) { errors { code } measurement { value } } }""",
            "variables": {
                "input": {
                    "indicatorKey": other.key,
                    "period": f"FY{YEAR}",
                    "value": str(target * 2),
                }
            },
        },
        headers={
            "authorization": f"Bearer {token}",
            "traceparent": f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01",
            "x-correlation-id": "report-from-a-browser",
        },
    )
    body = answer.json()
    assert body["data"]["reportActual"]["errors"] == [], body
    assert answer.headers["x-correlation-id"] == "report-from-a-browser"
    spans = spans_of(exporter, trace_id)

    def method(span: ReadableSpan) -> Any:
        attributes = span.attributes or {}
        return attributes.get("http.request.method") or attributes.get("http.method")

    served = [s for s in spans if s.name == "POST /graphql"]
    clients = [s for s in spans if s.kind.name == "CLIENT" and method(s) == "POST"]
    # The gateway's server span, its call to the subgraph, the subgraph's span (in-process the
    # subgraph's is INTERNAL: the client span is current in the same task).
    assert [s.kind.name for s in served].count("SERVER") == 1, served
    assert len(served) == 2 and clients, "gateway → indicators over HTTP, one trace"
    [call] = clients
    [subgraph] = [s for s in served if s.kind.name != "SERVER"]
    assert subgraph.parent is not None and subgraph.parent.span_id == call.context.span_id
    assert any(s.attributes and s.attributes.get("db.system") == "postgresql" for s in spans)
    # The status change it caused is an event of the same trace and correlation.
    [changed] = [
        e for e in await outbox_events(chain.indicators) if tracing.trace_id_of(e) == trace_id
    ]
    assert changed.trace.correlation_id == "report-from-a-browser"
    assert changed.trace.causation_id == changed.event_id  # a root event: its own cause


def test_traceparent_propagator_reads_what_kit_writes() -> None:
    """The header kit writes is the W3C one the SDK's propagator reads."""
    event = tracing.stamp(
        new_event(
            IndicatorReported(
                indicator_key="k",
                period="FY2024",
                value=Decimal(1),
                source="s",
                idempotency_key="x",
            ),
            tenant="itabashi",
            aggregate_id="k",
            producer="test",
        )
    )
    assert event.trace.correlation_id == str(event.event_id)
    assert event.trace.causation_id == event.event_id
    context = TraceContextTextMapPropagator().extract({"traceparent": event.trace.traceparent})
    assert context, json.dumps(event.trace.model_dump(mode="json"))


WHOLE_PLAN = """
query WholePlan($id: ID!, $fy: Int) {
  plan(id: $id) {
    title state levelLabels measureCount
    nodes {
      code title kind
      children {
        code title kind
        measure {
          code title status owners { departmentCode isLead }
          grades { fiscalYear grade label }
          indicators {
            key title unit
            targets { fiscalYear value comparator }
            status(fiscalYear: $fy) { status statusLabel reason figures { actual target } }
            series { fiscalYear actual status { status } }
          }
        }
      }
    }
  }
}
"""


async def whole_plan(chain: Any, encoding: str) -> httpx.Response:
    plan_id = str(ids.plan_id("itabashi", chain.plan_file.plan.key))
    token = issue_token(
        chain.gateway_settings, subject="cio@itabashi", tenant="itabashi", roles=["viewer"]
    )
    return await chain.client.post(
        "/graphql",
        json={"query": WHOLE_PLAN, "variables": {"id": plan_id, "fy": YEAR}},
        headers={"authorization": f"Bearer {token}", "accept-encoding": encoding},
    )


async def test_large_answers_are_compressed_and_japanese_is_not_escaped(chain: Any) -> None:
    plain = await whole_plan(chain, "identity")
    assert "content-encoding" not in plain.headers
    raw = plain.content
    assert raw.count(b"\\u") == 0 and "施策".encode() in raw
    assert plain.json()["data"]["plan"]["measureCount"] > 10
    for encoding in ("gzip", "br"):
        answer = await whole_plan(chain, encoding)
        assert answer.headers["content-encoding"] == encoding
        assert answer.num_bytes_downloaded < len(raw) / 4, (encoding, answer.num_bytes_downloaded)
        same = answer.json()["data"]["plan"]  # the figures may move meanwhile; the plan not
        assert (same["title"], same["measureCount"]) == (
            plain.json()["data"]["plan"]["title"],
            plain.json()["data"]["plan"]["measureCount"],
        )
    small = await chain.client.get("/healthz", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers  # under the minimum size
    # A subgraph answers in UTF-8 too.
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=chain.indicators_app), base_url="http://indicators"
    ) as direct:
        answer = await direct.post(
            "/graphql",
            json={
                "query": "query($k: String!) { indicatorByKey(key: $k) { title } }",
                "variables": {"k": chain.plan_file.indicators[0].key},
            },
            headers={"authorization": plain.request.headers["authorization"]},
        )
    title = answer.json()["data"]["indicatorByKey"]["title"]
    assert title.encode() in answer.content and b"\\u" not in answer.content


def parse_openmetrics(text: str) -> dict[str, Any]:
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families
    for name in families:
        assert f"# HELP {name} " in text and f"# TYPE {name} " in text, name
    return families


async def test_metrics_parse_as_openmetrics_with_histograms_and_lag(chain: Any) -> None:
    await whole_plan(chain, "identity")  # a request and its subgraph calls are measured
    report = reported(chain.plan_file.indicators[-1].key, 1, traceparent=None)
    await produce(
        chain.bootstrap,
        chain.indicators.topic(topics.INDICATOR_REPORTED),
        [(report.key, report.to_bytes())],
    )

    async def consumed() -> bool:
        return bool(chain.indicators.consumers[0].processed)

    await wait_until(consumed, timeout=60, message="a report consumed")
    accept = {"accept": "application/openmetrics-text; version=1.0.0"}
    answer = await chain.client.get("/metrics", headers=accept)
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    gateway = parse_openmetrics(answer.text)
    assert gateway["suishin_http_request_duration_seconds"].type == "histogram"
    calls = gateway["suishin_gateway_subgraph_call_duration_seconds"]
    assert calls.type == "histogram"
    assert any(s.name.endswith("_bucket") and s.labels.get("le") == "+Inf" for s in calls.samples)
    assert {"process_resident_memory_bytes", "suishin_gateway_subgraph_calls"} <= set(gateway)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=chain.indicators_app), base_url="http://indicators"
    ) as direct:
        answer = await direct.get("/metrics", headers=accept)
        plain = await direct.get("/metrics")
    service = parse_openmetrics(answer.text)
    assert service["suishin_consumer_lag"].type == "gauge"
    assert service["suishin_consumer_batch_duration_seconds"].type == "histogram"
    for name in (
        "suishin_outbox_pending",
        "suishin_outbox_oldest_age_seconds",
        "suishin_consumer_processed",
        "suishin_indicators_reports_accepted",
        "process_resident_memory_bytes",
    ):
        assert name in service, name
    [lag] = [
        s for s in service["suishin_consumer_lag"].samples if s.labels["service"] == "indicators"
    ]
    assert lag.value >= 0
    # Without asking: the Prometheus text format, with HELP and TYPE lines.
    assert plain.headers["content-type"].startswith("text/plain")
    assert "# TYPE suishin_consumer_lag gauge" in plain.text


async def test_subgraph_calls_are_logged_at_debug(
    chain: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="suishin.gateway.subgraphs")
    await whole_plan(chain, "identity")
    calls = [r for r in caplog.records if r.name == "suishin.gateway.subgraphs"]
    assert calls and all(r.levelno == logging.DEBUG for r in calls)
    assert all(getattr(r, "subgraph", None) and getattr(r, "ms", None) is not None for r in calls)


OBSERVABILITY = Path(__file__).resolve().parents[2] / "infra" / "observability"
_SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("_sum", "_count", "_created"),
}


def queried_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (labels and functions are not metric names)."""
    without_labels = re.sub(r"\{[^}]*\}", "", expr)
    without_strings = re.sub(r'"[^"]*"', "", without_labels)
    return set(re.findall(r"\b((?:suishin|process|python)_[a-z0-9_]+)\b", without_strings))


async def test_dashboard_and_alert_rules_query_only_exported_metrics(chain: Any) -> None:
    rules = yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text("utf-8"))
    dashboard = json.loads((OBSERVABILITY / "grafana-dashboard.json").read_text("utf-8"))
    alerts = [r for group in rules["groups"] for r in group["rules"]]
    assert {a["alert"] for a in alerts} >= {
        "SuishinConsumerStalled",
        "SuishinDeadLettersGrowing",
        "SuishinOutboxBacklog",
        "SuishinHttpErrorRate",
        "SuishinGraphQLLatencyP99",
    }
    assert all(
        a["expr"] and a["labels"]["severity"] and a["annotations"]["summary"] for a in alerts
    )
    exprs = [a["expr"] for a in alerts] + [
        t["expr"] for p in dashboard["panels"] for t in p["targets"]
    ]
    queried = set().union(*(queried_metrics(e) for e in exprs))
    # What the gateway and each service expose (each process its own registry).
    exposed: set[str] = set()
    texts = [(await chain.client.get("/metrics")).text]
    for runtime in chain.runtimes:
        texts.append(await runtime.metrics())
    for text in texts:
        for family in text_string_to_metric_families_prom(text):
            exposed.add(family.name)
            exposed.update(family.name + s for s in _SUFFIXES.get(family.type, ()))
    assert queried and not queried - exposed, sorted(queried - exposed)


async def test_a_dead_lettered_record_keeps_its_trace_and_is_counted(chain: Any) -> None:
    trace_id = uuid.uuid4().hex
    traceparent = f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"
    unknown = reported("no-such-indicator", 1, traceparent=traceparent)
    topic = chain.indicators.topic(topics.INDICATOR_REPORTED)

    def dead_letters() -> float:
        return sum(
            s.value
            for f in text_string_to_metric_families_prom(generate_latest().decode())
            if f.name == "suishin_dead_letters"
            for s in f.samples
            if s.name.endswith("_total") and s.labels["topic"] == topic
        )

    before = dead_letters()
    await produce(
        chain.bootstrap,
        topic,
        [(unknown.key, unknown.to_bytes(), [("traceparent", traceparent.encode())])],
    )
    async with TopicReader(chain.bootstrap, dead_letter_topic(topic)) as reader:

        async def ours() -> list[Any]:
            return [r for r in await reader.poll() if r.key == unknown.key]

        [record] = (await wait_until(ours, timeout=60, message="the dead letter"))[:1]
    headers = {k: v.decode() for k, v in record.headers}
    assert headers["traceparent"] == traceparent
    assert dead_letters() == before + 1
