"""Subgraph benchmark: the whole-plan dashboard's two subgraph requests in-process, with and
without the quick completion (``suishin.kit.graphql_exec``).

    uv run python bench/subgraphs.py [--dataset NAME] [--requests 150] [--rounds 2]

Starts the embedded PostgreSQL and broker, imports the reference plan with the most measures
(as ``bench/gateway.py`` does), and sends the plan tree to the plans subgraph and the
``_entities`` request for every measure's indicators to the indicators subgraph through their
ASGI apps (no sockets). Alternates rounds of the quick completion and of graphql-core's regular
one (the subgraphs' ``execution_context_class`` switched back to Strawberry's) and prints the
process CPU time per request, minimum and median: everything runs in this process, so CPU time
is what the code costs even on a shared, busy machine, where wall-clock figures drift.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from suishin.contracts import ids
from suishin.devstack.testing import isolated_settings, started, test_infrastructure
from suishin.indicators.app import build as build_indicators
from suishin.indicators.graphql import schema as indicators_schema
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.auth import issue_token
from suishin.kit.graphql_exec import QuickExecutionContext
from suishin.plans.app import build as build_plans
from suishin.plans.graphql import schema as plans_schema
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gateway import ENTITIES_QUERY, PLANS_QUERY, largest_dataset, synthetic

SCHEMAS = (plans_schema, indicators_schema)


def use(context_class: type) -> None:
    for schema in SCHEMAS:
        schema.execution_context_class = context_class


async def run(args: argparse.Namespace, infra: Any) -> None:
    plan_file = largest_dataset(args.dataset) or synthetic()
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    prefix = "bench" + uuid.uuid4().hex[:6]
    plans_settings = isolated_settings(PlansSettings, infra, prefix=prefix)
    plans_rt, plans_app = build_plans(plans_settings)
    ind_rt, ind_app = build_indicators(
        isolated_settings(IndicatorsSettings, infra, prefix=prefix, stale_sweep_enabled=False)
    )
    async with started(plans_rt), started(ind_rt):
        await import_plan_file(plans_rt.pool, plan_file)
        await import_indicator_definitions(ind_rt.pool, plan_file)
        token = issue_token(plans_settings, subject="bench", tenant=tenant, roles=["executive"])
        headers = {"authorization": f"Bearer {token}"}
        plan_id = str(ids.plan_id(tenant, key))
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=plans_app), base_url="http://plans"
            ) as plans,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=ind_app), base_url="http://indicators"
            ) as indicators,
        ):

            async def one() -> tuple[float, float]:
                started_at = time.process_time()
                r = await plans.post(
                    "/graphql",
                    json={"query": PLANS_QUERY, "variables": {"id": plan_id}},
                    headers=headers,
                )
                plan = r.json()["data"]["plan"]
                middle = time.process_time()
                reps = [
                    {"__typename": "Measure", "id": c["measure"]["id"]}
                    for n in plan["nodes"]
                    for c in n["children"]
                    if c.get("measure")
                ]
                r = await indicators.post(
                    "/graphql",
                    json={"query": ENTITIES_QUERY, "variables": {"r": reps}},
                    headers=headers,
                )
                assert "errors" not in r.json(), r.json()
                return (middle - started_at) * 1000, (time.process_time() - middle) * 1000

            print(
                f"plan {tenant}/{key}; {args.requests} request pairs per round; "
                "process CPU ms per request, min / median"
            )
            print(f"{'completion':10} {'round':>5} {'plans':>15} {'indicators':>15} {'both':>15}")
            for round_ in range(1, args.rounds + 1):
                for label, context_class in (
                    ("quick", QuickExecutionContext),
                    ("regular", StrawberryGraphQLCoreExecutionContext),
                ):
                    use(context_class)
                    for _ in range(10):  # warm up caches
                        await one()
                    gc.collect()
                    runs = [await one() for _ in range(args.requests)]
                    cols = []
                    for values in (
                        [p for p, _ in runs],
                        [i for _, i in runs],
                        [p + i for p, i in runs],
                    ):
                        cols.append(f"{min(values):6.1f} / {statistics.median(values):5.1f}")
                    print(f"{label:10} {round_:5} {cols[0]:>15} {cols[1]:>15} {cols[2]:>15}")
            use(QuickExecutionContext)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", help="datasets/<name>.yaml (default: most measures)")
    parser.add_argument("--requests", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with test_infrastructure() as infra:
        asyncio.run(run(args, infra))


if __name__ == "__main__":
    main()
