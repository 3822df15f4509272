"""A plan without a grading scale (``rule: none``): statuses only, end to end in the running plans
service on the real PostgreSQL and broker — no machine grade, no ``measure.evaluated``, so no
未達成 alert; a plan with the 練馬区 scale grades "nothing achieved" C 未達成 and says it fails."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from suishin.contracts import ids, topics
from suishin.contracts.enums import IndicatorStatus, MeasureStatus, Role
from suishin.contracts.events import (
    Figures,
    IndicatorStatusChanged,
    MeasureEvaluated,
    new_event,
    parse_event,
)
from suishin.contracts.planfile import PlanFile
from suishin.devstack.testing import Infrastructure, isolated_settings, produce, started, wait_until
from suishin.kit.auth import Principal
from suishin.kit.service import ServiceRuntime
from suishin.plans.app import build
from suishin.plans.commands import change_measure_status
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

from .conftest import sample_plan_data

pytestmark = pytest.mark.integration

NONE, NERIMA, DONE = "noscaleku", "nerimaku", "kanryoku"
MEASURE = "基本方針Ⅰ/1"
ITEM = "基本方針Ⅰ/1/1"


def plan(tenant: str, scale: dict[str, Any]) -> PlanFile:
    data = sample_plan_data()
    data["tenant"] = {"slug": tenant, "name": "見本区"}
    data["grading_scale"] = scale
    data.pop("published_evaluations", None)
    return PlanFile.model_validate(data)


def off_track(tenant: str, year: int = 2024) -> Any:
    indicator = ids.indicator_id(tenant, "kpi-1")
    return new_event(
        IndicatorStatusChanged(
            indicator_id=indicator,
            indicator_key="kpi-1",
            title="指標",
            period=f"FY{year}",
            fiscal_year=year,
            from_status=None,
            to_status=IndicatorStatus.OFF_TRACK,
            figures=Figures(actual=2, target=10, comparator="gte"),
            rule="per_year_final",
            reason="テスト",
            measure_ids=[ids.node_id(tenant, "p1", ITEM)],
        ),
        tenant=tenant,
        aggregate_id=str(indicator),
        producer="indicators",
        aggregate_version=year,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def runtime(infra: Infrastructure) -> AsyncIterator[ServiceRuntime]:
    rt, _app = build(isolated_settings(PlansSettings, infra))
    async with started(rt):
        await import_plan_file(rt.pool, plan(NONE, {"rule": "none"}))
        nerima = {
            "rule": "nerima-ab",
            "grades": [
                {"code": "A", "label": "達成"},
                {"code": "B", "label": "一部達成"},
                {"code": "C", "label": "未達成", "failing": True},
            ],
        }
        await import_plan_file(rt.pool, plan(NERIMA, nerima))
        early = {
            "rule": "itabashi-dx2025-early",
            "grades": [
                {"code": "achieved_plus", "label": "達成＋"},
                {"code": "achieved", "label": "達成"},
                {"code": "not_achieved", "label": "未達成", "failing": True},
            ],
        }
        await import_plan_file(rt.pool, plan(DONE, early))
        yield rt


@pytest.mark.asyncio(loop_scope="session")
async def test_no_scale_means_statuses_only_and_nothing_achieved_fails_on_nerimas(
    runtime: ServiceRuntime, infra: Infrastructure
) -> None:
    topic = runtime.topic(topics.INDICATOR_STATUS_CHANGED)
    events = [off_track(NONE), off_track(NERIMA)]
    await produce(infra.kafka_bootstrap, topic, [(e.key, e.to_bytes()) for e in events])

    async def both_applied() -> bool:
        n = await runtime.pool.fetchval(
            "select count(*) from inbox where event_id = any($1::uuid[])",
            [e.event_id for e in events],
        )
        return bool(n == 2)

    await wait_until(both_applied, timeout=60, message="both statuses applied")
    statuses = await runtime.pool.fetch("select tenant, status from indicator_statuses")
    assert sorted((r["tenant"], r["status"]) for r in statuses) == [
        (NERIMA, "off_track"),
        (NONE, "off_track"),  # the status is kept and shown
    ]
    grades = await runtime.pool.fetch("select tenant, machine_grade from grades")
    assert [(r["tenant"], r["machine_grade"]) for r in grades] == [(NERIMA, "C")]
    evaluated = [
        parse_event(r["body"], expect=MeasureEvaluated)
        for r in await runtime.pool.fetch(
            "select body from outbox where topic = $1", topics.MEASURE_EVALUATED
        )
    ]
    assert [(e.tenant, e.payload.grade, e.payload.is_failing) for e in evaluated] == [
        (NERIMA, "C", True)
    ]


@pytest.mark.asyncio(loop_scope="session")
async def test_completing_a_measure_makes_its_year_achieved_as_the_plan_prints(
    runtime: ServiceRuntime, infra: Infrastructure
) -> None:
    topic = runtime.topic(topics.INDICATOR_STATUS_CHANGED)
    events = [off_track(DONE, 2022), off_track(DONE, 2023)]
    await produce(infra.kafka_bootstrap, topic, [(e.key, e.to_bytes()) for e in events])
    measure = ids.node_id(DONE, "p1", MEASURE)

    async def grades() -> dict[int, tuple[str, str]] | None:
        rows = await runtime.pool.fetch(
            "select fiscal_year, machine_grade, machine_reason from grades where measure_id = $1",
            measure,
        )
        found = {r["fiscal_year"]: (r["machine_grade"], r["machine_reason"]) for r in rows}
        return found if len(found) == 2 else None

    before = await wait_until(grades, timeout=60, message="both years graded")
    assert {y: g for y, (g, _r) in before.items()} == {2022: "not_achieved", 2023: "not_achieved"}

    admin = Principal("admin@kanryoku", DONE, frozenset({Role.ADMIN}))
    async with runtime.pool.acquire() as conn, conn.transaction():
        await change_measure_status(conn, admin, measure, MeasureStatus.COMPLETED, "事業完了")
    after = await grades()
    assert after is not None
    # 達成 = 全部若しくは大部分を達成、又は施策として完了: completed in the plan's last year (or
    # later) makes that year 達成; the year before keeps its 未達成
    assert after[2023][0] == "achieved" and "施策として完了" in after[2023][1]
    assert after[2022][0] == "not_achieved"
