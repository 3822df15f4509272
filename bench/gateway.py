"""Gateway benchmark: a whole-plan dashboard query through the gateway vs. straight from the
subgraphs.

    uv run python bench/gateway.py [--dataset NAME] [--requests 300] [--concurrency 1 8]
                                   [--tracing]

Starts the embedded PostgreSQL and broker (or uses SUISHIN_DATABASE_URL / SUISHIN_KAFKA_BOOTSTRAP),
imports the reference plan with the most measures (datasets/*.yaml; a synthetic plan of 44
measures when none is there), serves the plans and indicators subgraphs and the gateway with
uvicorn on free ports, and drives the same dashboard query:

- through the gateway (one request), and
- directly: the plan tree from the plans subgraph, then every measure's indicators with one
  ``_entities`` call to the indicators subgraph (what a client would do without the gateway).

Prints requests/s, p50/p99 latency, process CPU per request and subgraph calls per query, for
each concurrency given (default: one request at a time, then 8 in flight), and the size of the
dashboard's answer as sent before (ASCII-escaped JSON, uncompressed) and now (UTF-8; gzip; br).
Everything shares this process's event loop and the machine's cores, so the figures are for
comparison, not capacity.

``--tracing`` turns OpenTelemetry on as ``OTEL_TRACES_EXPORTER=otlp`` would, exporting to a
local OTLP/HTTP receiver in this process that accepts and drops the spans (the cost of
recording, serialising and sending them is counted; that of a collector is not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from opentelemetry import trace

from suishin.contracts import ids
from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.embedded import free_port
from suishin.devstack.testing import isolated_settings, started, test_infrastructure
from suishin.gateway.app import build as build_gateway
from suishin.gateway.settings import GatewaySettings
from suishin.indicators.app import build as build_indicators
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.auth import issue_token
from suishin.kit.server import freeze_heap
from suishin.plans.app import build as build_plans
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

ROOT = Path(__file__).resolve().parents[1]

MEASURE_FIELDS = """
  id code title status owners { departmentCode isLead }
  grades { fiscalYear grade label }
"""
INDICATOR_FIELDS = """
  key title unit
  targets { fiscalYear value comparator }
  status { status statusLabel reason figures { actual target } }
  series { fiscalYear actual status { status } }
"""
GATEWAY_QUERY = f"""
query Dashboard($id: ID!) {{
  plan(id: $id) {{
    title state levelLabels measureCount
    nodes {{ code title children {{ code title children {{ code title }}
      measure {{ {MEASURE_FIELDS} indicators {{ {INDICATOR_FIELDS} }} }} }} }}
  }}
}}"""
PLANS_QUERY = f"""
query Dashboard($id: ID!) {{
  plan(id: $id) {{
    title state levelLabels measureCount
    nodes {{ code title children {{ code title children {{ code title }}
      measure {{ {MEASURE_FIELDS} }} }} }}
  }}
}}"""
ENTITIES_QUERY = f"""
query($r: [_Any!]!) {{
  _entities(representations: $r) {{ ... on Measure {{ id indicators {{ {INDICATOR_FIELDS} }} }} }}
}}"""


def largest_dataset(name: str | None) -> PlanFile | None:
    paths = sorted((ROOT / "datasets").glob("*.yaml"))
    if name:
        paths = [p for p in paths if p.stem == name]
    best: tuple[int, PlanFile] | None = None
    for path in paths:
        plan_file = load_plan_file(path)
        measures = sum(1 for _, _, node in plan_file.iter_nodes() if node.kind == "measure")
        if best is None or measures > best[0]:
            best = (measures, plan_file)
    return best[1] if best else None


def synthetic(measures: int = 44) -> PlanFile:
    data: dict[str, Any] = {
        "format_version": 1,
        "tenant": {"slug": "benchku", "name": "ベンチ区"},
        "departments": [{"code": "IT推進課", "name": "IT推進課"}],
        "plan": {
            "key": "bench",
            "title": "ベンチ計画",
            "kind": "実施計画",
            "period": {"start": 2024, "end": 2025},
            "state": "published",
            "level_labels": ["目標", "施策"],
        },
        "nodes": [
            {
                "code": "目標1",
                "kind": "group",
                "level": 0,
                "title": "目標1",
                "children": [
                    {
                        "code": str(i),
                        "kind": "measure",
                        "level": 1,
                        "title": f"施策{i}",
                        "owners": ["IT推進課"],
                    }
                    for i in range(1, measures + 1)
                ],
            }
        ],
        "indicators": [
            {
                "key": f"bench.i{i}",
                "title": f"指標{i}",
                "nodes": [f"目標1/{i}"],
                "targets": [{"fiscal_year": 2024, "comparator": "gte", "value": 10}],
            }
            for i in range(1, measures + 1)
        ],
    }
    return PlanFile.model_validate(data)


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110  (uvicorn offers no event for this)
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task


async def drive(
    name: str, one: Callable[[], Awaitable[None]], requests: int, concurrency: int
) -> dict[str, float]:
    for _ in range(5):  # warm up connection pools and caches
        await one()
    latencies: list[float] = []
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            started_at = time.perf_counter()
            await one()
            latencies.append(time.perf_counter() - started_at)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


class _SpanSink(BaseHTTPRequestHandler):
    """An OTLP/HTTP receiver that counts what it is sent and answers 200."""

    received = 0

    def do_POST(self) -> None:
        type(self).received += len(self.rfile.read(int(self.headers.get("content-length", 0))))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        return None


def start_span_sink() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SpanSink)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    os.environ["OTEL_TRACES_EXPORTER"] = "otlp"
    os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_port}"
    return server


async def answer_sizes(client: httpx.AsyncClient, url: str, payload: dict[str, Any]) -> str:
    """The dashboard answer's bytes on the wire: as ASCII-escaped JSON (before), UTF-8 JSON,
    and compressed."""
    sizes = {}
    for encoding in ("identity", "gzip", "br"):
        r = await client.post(url, json=payload, headers={"accept-encoding": encoding})
        sizes[encoding] = r.num_bytes_downloaded
        if encoding == "identity":
            escaped = len(json.dumps(r.json(), separators=(",", ":")).encode())
    return (
        f"answer bytes: escaped JSON {escaped:,}; UTF-8 {sizes['identity']:,}; "
        f"gzip {sizes['gzip']:,}; br {sizes['br']:,}"
    )


async def run(args: argparse.Namespace, infra: Any) -> None:
    sink = start_span_sink() if args.tracing else None
    plan_file = largest_dataset(args.dataset) or synthetic()
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    prefix = "bench" + uuid.uuid4().hex[:6]
    plans_rt, plans_app = build_plans(isolated_settings(PlansSettings, infra, prefix=prefix))
    ind_rt, ind_app = build_indicators(
        isolated_settings(IndicatorsSettings, infra, prefix=prefix, stale_sweep_enabled=False)
    )
    async with started(plans_rt), started(ind_rt):
        await import_plan_file(plans_rt.pool, plan_file)
        await import_indicator_definitions(ind_rt.pool, plan_file)
        async with serve(plans_app) as plans_url, serve(ind_app) as indicators_url:
            settings = GatewaySettings(
                live_enabled=False,
                plans_url=plans_url,
                indicators_url=indicators_url,
                notifications_url=plans_url,
                log_json=False,
            )
            gateway_app = build_gateway(settings)
            token = issue_token(settings, subject="bench", tenant=tenant, roles=["executive"])
            headers = {"authorization": f"Bearer {token}"}
            plan_id = str(ids.plan_id(tenant, key))
            async with (
                serve(gateway_app) as gateway_url,
                httpx.AsyncClient(headers=headers, timeout=30) as client,
            ):
                subgraphs = gateway_app.state.subgraphs

                async def via_gateway() -> None:
                    r = await client.post(
                        gateway_url, json={"query": GATEWAY_QUERY, "variables": {"id": plan_id}}
                    )
                    body = r.json()
                    assert "errors" not in body, body

                async def direct() -> None:
                    r = await client.post(
                        plans_url, json={"query": PLANS_QUERY, "variables": {"id": plan_id}}
                    )
                    plan = r.json()["data"]["plan"]
                    measure_ids = [
                        c["measure"]["id"]
                        for n in plan["nodes"]
                        for c in n["children"]
                        if c.get("measure")
                    ]
                    reps = [{"__typename": "Measure", "id": i} for i in measure_ids]
                    r = await client.post(
                        indicators_url, json={"query": ENTITIES_QUERY, "variables": {"r": reps}}
                    )
                    assert "errors" not in r.json(), r.json()

                measures = plan_file_measures(plan_file)
                print(
                    f"plan {tenant}/{key}: {measures} measures, {len(plan_file.indicators)} "
                    f"indicators; {args.requests} requests per run; "
                    f"tracing {'on' if args.tracing else 'off'}"
                )
                payload = {"query": GATEWAY_QUERY, "variables": {"id": plan_id}}
                print(await answer_sizes(client, gateway_url, payload))
                freeze_heap()  # the servers and this client share the process (see hive.py)
                header = f"{'path':8} {'conc.':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
                print(f"{header} {'CPU ms/req':>10} {'subgraph calls':>15}")
                for concurrency in args.concurrency:
                    before = subgraphs.total_calls
                    cpu = time.process_time()
                    gw = await drive("gateway", via_gateway, args.requests, concurrency)
                    gw["cpu"] = (time.process_time() - cpu) * 1000 / (args.requests + 5)
                    calls = (subgraphs.total_calls - before) / (args.requests + 5)
                    cpu = time.process_time()
                    dr = await drive("direct", direct, args.requests, concurrency)
                    dr["cpu"] = (time.process_time() - cpu) * 1000 / (args.requests + 5)
                    for label, row, per_query in (("gateway", gw, calls), ("direct", dr, 2.0)):
                        figures = f"{row['rps']:8.1f} {row['p50']:8.1f} {row['p99']:8.1f}"
                        print(f"{label:8} {concurrency:5} {figures} {row['cpu']:10.1f}", end="")
                        print(f" {per_query:15.1f}")
                if sink is not None:
                    provider: Any = trace.get_tracer_provider()
                    provider.force_flush()
                    print(f"spans exported: {_SpanSink.received:,} bytes of OTLP")


def plan_file_measures(plan_file: PlanFile) -> int:
    return sum(1 for _, _, node in plan_file.iter_nodes() if node.kind == "measure")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="datasets/<name>.yaml (default: most measures)")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument(
        "--concurrency",
        type=int,
        nargs="+",
        default=[1, 8],
        help="requests in flight; one run per value (default: 1 8)",
    )
    parser.add_argument(
        "--tracing", action="store_true", help="OpenTelemetry on, exporting over OTLP/HTTP"
    )
    args = parser.parse_args()
    with test_infrastructure() as infra:
        asyncio.run(run(args, infra))


if __name__ == "__main__":
    main()
