"""Gateway benchmark: a whole-plan dashboard query through the gateway vs. straight from the
subgraphs.

    uv run python bench/gateway.py [--dataset NAME] [--requests 300] [--concurrency 1 8]

Starts the embedded PostgreSQL and broker (or uses SUISHIN_DATABASE_URL / SUISHIN_KAFKA_BOOTSTRAP),
imports the reference plan with the most measures (datasets/*.yaml; a synthetic plan of 44
measures when none is there), serves the plans and indicators subgraphs and the gateway with
uvicorn on free ports, and drives the same dashboard query:

- through the gateway (one request), and
- directly: the plan tree from the plans subgraph, then every measure's indicators with one
  ``_entities`` call to the indicators subgraph (what a client would do without the gateway).

Prints requests/s, p50/p99 latency and subgraph calls per query, for each concurrency given
(default: one request at a time, then 8 in flight). Everything shares this process's event loop
and the machine's cores, so the figures are for comparison, not capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import uvicorn

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


async def run(args: argparse.Namespace, infra: Any) -> None:
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
                    f"indicators; {args.requests} requests per run"
                )
                header = f"{'path':8} {'conc.':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}"
                print(f"{header} {'subgraph calls':>15}")
                for concurrency in args.concurrency:
                    before = subgraphs.total_calls
                    gw = await drive("gateway", via_gateway, args.requests, concurrency)
                    calls = (subgraphs.total_calls - before) / (args.requests + 5)
                    dr = await drive("direct", direct, args.requests, concurrency)
                    for label, row, per_query in (("gateway", gw, calls), ("direct", dr, 2.0)):
                        figures = f"{row['rps']:8.1f} {row['p50']:8.1f} {row['p99']:8.1f}"
                        print(f"{label:8} {concurrency:5} {figures} {per_query:15.1f}")


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
    args = parser.parse_args()
    with test_infrastructure() as infra:
        asyncio.run(run(args, infra))


if __name__ == "__main__":
    main()
