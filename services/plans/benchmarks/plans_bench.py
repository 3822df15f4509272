"""Benchmarks of the plans service on the embedded PostgreSQL and broker of this machine.

    uv run python services/plans/benchmarks/plans_bench.py

Measures: importing the reference plan files (first import and the no-op re-import), the
subgraph's whole-plan tree query (in-process ASGI, so without network), and the throughput of
the indicator.status_changed handler (inbox claim, status upsert, regrade, measure.evaluated in
the outbox; called directly with batches, so without the broker's share).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path

import httpx

from suishin.contracts import ids
from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Figures, IndicatorStatusChanged, new_event
from suishin.contracts.planfile import load_plan_file
from suishin.devstack.testing import isolated_settings, started, test_infrastructure
from suishin.kit.auth import issue_token
from suishin.plans.app import build
from suishin.plans.handlers import indicator_status_handler
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

DATASETS = Path(__file__).resolve().parents[3] / "datasets"

TREE = """query($id: ID!) { plan(id: $id) { nodes { title children { title measure {
  id code title status owners { departmentName isLead } tags
  schedule { fiscalYear label } grades { fiscalYear grade machineGrade }
  items { title } } } } } }"""


async def main() -> None:
    with test_infrastructure() as infra:
        settings = isolated_settings(PlansSettings, infra)
        runtime, app = build(settings)
        async with started(runtime):
            files = [load_plan_file(p) for p in sorted(DATASETS.glob("*.yaml"))]
            nodes = sum(len(list(f.iter_nodes())) for f in files)
            t = time.perf_counter()
            for f in files:
                await import_plan_file(runtime.pool, f)
            first = time.perf_counter() - t
            t = time.perf_counter()
            for f in files:
                assert not (await import_plan_file(runtime.pool, f)).changed
            again = time.perf_counter() - t
            print(
                f"import {len(files)} plan files ({nodes} nodes): first {first:.2f}s, "
                f"re-import (no-op) {again:.2f}s"
            )

            late = next(f for f in files if f.plan.key == "dx2025-late")
            token = issue_token(settings, subject="b", tenant="itabashi", roles=["viewer"])
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as client:
                latencies = []
                for _ in range(60):
                    t = time.perf_counter()
                    r = await client.post(
                        "/graphql",
                        json={"query": TREE, "variables": {"id": str(late.plan_id())}},
                        headers={"authorization": f"Bearer {token}"},
                    )
                    latencies.append((time.perf_counter() - t) * 1000)
                    assert r.status_code == 200 and "errors" not in r.json(), r.text
            latencies = sorted(latencies[10:])
            print(
                f"whole-plan tree query (dx2025-late, 17 measures): "
                f"p50 {statistics.median(latencies):.1f} ms, "
                f"p99 {latencies[int(len(latencies) * 0.99) - 1]:.1f} ms"
            )

            early = next(f for f in files if f.plan.key == "dx2025-early")
            measures = [
                early.node_id(p) for p, _, n in early.iter_nodes() if n.kind.value == "measure"
            ]
            handle = indicator_status_handler(runtime)
            total, batch, version = 0, 500, 0
            statuses = list(IndicatorStatus)[:4]
            t = time.perf_counter()
            for round_ in range(20):
                events = []
                for i in range(batch):
                    version += 1
                    key = f"bench-{i % 100}"
                    events.append(
                        new_event(
                            IndicatorStatusChanged(
                                indicator_id=ids.indicator_id("itabashi", key),
                                indicator_key=key,
                                title=key,
                                period="FY2022",
                                fiscal_year=2022,
                                from_status=None,
                                to_status=statuses[(i + round_) % 4],
                                figures=Figures(actual=i, target=50, comparator="gte"),
                                rule="bench",
                                reason="bench",
                                measure_ids=[measures[i % len(measures)]],
                            ),
                            tenant="itabashi",
                            aggregate_id=key,
                            producer="bench",
                            aggregate_version=version,
                        )
                    )
                await handle(events)
                total += len(events)
            elapsed = time.perf_counter() - t
            evaluated = await runtime.pool.fetchval(
                "select count(*) from outbox where topic = 'measure.evaluated'"
            )
            print(
                f"indicator.status_changed handler: {total / elapsed:,.0f} events/s "
                f"(batches of {batch} over {len(measures)} measures, "
                f"{evaluated} measure.evaluated emitted)"
            )


if __name__ == "__main__":
    asyncio.run(main())
