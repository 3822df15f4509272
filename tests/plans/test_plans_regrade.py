"""Regrading a batch of (measure, year) pairs: what a grade is computed from is read once for the
whole batch, the changed grades are written and announced together, and the grades and their
``measure.evaluated`` events come out as if each status change had been applied on its own."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import pytest

from suishin.contracts import ids
from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Envelope, Figures, IndicatorStatusChanged, new_event
from suishin.contracts.planfile import PlanFile
from suishin.plans import commands
from suishin.plans.importer import import_plan_file

from .conftest import PlansDb, sample_plan_data

pytestmark = pytest.mark.integration

TENANT = "sampleku"
# (indicator, node path it is linked to, fiscal year, status): a measure's own indicators, a
# sub-item's (graded with its measure), and a measure with a published grade for FY2021
STATUSES = [
    ("i1", "基本方針Ⅰ/1/1", 2021, IndicatorStatus.ACHIEVED),
    ("i1", "基本方針Ⅰ/1/1", 2022, IndicatorStatus.OFF_TRACK),
    ("i2", "基本方針Ⅰ/2", 2021, IndicatorStatus.OFF_TRACK),
    ("i2", "基本方針Ⅰ/2", 2022, IndicatorStatus.ACHIEVED),
    ("i3", "基本方針Ⅱ/1", 2021, IndicatorStatus.ACHIEVED),
    ("i4", "基本方針Ⅱ/1", 2021, IndicatorStatus.AT_RISK),
    ("i4", "基本方針Ⅱ/1", 2022, IndicatorStatus.ON_TRACK),
]
MEASURES = ["基本方針Ⅰ/1", "基本方針Ⅰ/2", "基本方針Ⅱ/1"]


async def _plan(plans_db: PlansDb, key: str) -> None:
    data = sample_plan_data()
    data["plan"]["key"] = key
    await import_plan_file(plans_db.pool, PlanFile.model_validate(data))


def _events(plan_key: str) -> list[Envelope[IndicatorStatusChanged]]:
    out = []
    for version, (indicator, path, year, status) in enumerate(STATUSES, 1):
        indicator_id = ids.indicator_id(TENANT, f"{plan_key}.{indicator}")
        out.append(
            new_event(
                IndicatorStatusChanged(
                    indicator_id=indicator_id,
                    indicator_key=f"{plan_key}.{indicator}",
                    title=f"指標{indicator}",
                    period=f"FY{year}",
                    fiscal_year=year,
                    from_status=None,
                    to_status=status,
                    figures=Figures(actual=40, target=60, comparator="gte", unit="%"),
                    rule="yearly_target",
                    reason="テスト",
                    measure_ids=[ids.node_id(TENANT, plan_key, path)],
                ),
                tenant=TENANT,
                aggregate_id=str(indicator_id),
                producer="indicators",
                aggregate_version=version,
            )
        )
    return out


async def _grades(plans_db: PlansDb, plan_key: str) -> dict[tuple[str, int], tuple[Any, ...]]:
    rows = await plans_db.pool.fetch(
        """select n.path, g.fiscal_year, g.machine_grade, g.machine_reason, g.effective_grade
           from grades g join nodes n on n.id = g.measure_id
           where n.plan_id = $1""",
        ids.plan_id(TENANT, plan_key),
    )
    return {
        (r["path"], r["fiscal_year"]): (
            r["machine_grade"],
            r["machine_reason"],
            r["effective_grade"],
        )
        for r in rows
    }


async def _announced(plans_db: PlansDb, plan_key: str) -> dict[tuple[str, int], list[Any]]:
    """The ``measure.evaluated`` events of a plan's measures by (path, year), in outbox order."""
    paths = {ids.node_id(TENANT, plan_key, path): path for path in MEASURES}
    out: dict[tuple[str, int], list[Any]] = {}
    for row in await plans_db.pool.fetch(
        "select body from outbox where topic = 'measure.evaluated' order by id"
    ):
        event = json.loads(row["body"])
        path = paths.get(UUID(event["payload"]["measure_id"]))
        if path is not None:
            out.setdefault((path, event["payload"]["fiscal_year"]), []).append(event)
    return out


async def test_a_batch_grades_as_each_status_change_applied_on_its_own(plans_db: PlansDb) -> None:
    await _plan(plans_db, "rg1")
    await _plan(plans_db, "rg2")
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.apply_indicator_statuses(conn, _events("rg1"))  # one batch, 6 pairs
    for event in _events("rg2"):
        async with plans_db.pool.acquire() as conn, conn.transaction():
            await commands.apply_indicator_statuses(conn, [event])
    batched, one_by_one = await _grades(plans_db, "rg1"), await _grades(plans_db, "rg2")
    assert batched == one_by_one
    # every measure got a grade for each year it has statuses
    assert {path for path, _ in batched} == set(MEASURES)
    assert len(batched) == 6
    assert len({grade for grade, _, _ in batched.values()}) > 1  # not all alike

    # the events: one per changed pair in the batch, saying what the last of the one-by-one
    # events says; the previous grade is the one before the first of them (one by one,
    # 基本方針Ⅱ/1 FY2021 changed twice; a published grade counts before any machine grade)
    told, told_one_by_one = await _announced(plans_db, "rg1"), await _announced(plans_db, "rg2")
    assert set(told) == set(told_one_by_one) == set(batched)
    same = ("grade", "grade_label", "machine_grade", "is_override", "is_failing")
    same += ("consecutive_failing_years", "department_codes", "level_label")
    for pair, events in told.items():
        assert len(events) == 1, pair
        (event,), last = events, told_one_by_one[pair][-1]["payload"]
        assert {k: event["payload"][k] for k in same} == {k: last[k] for k in same}, pair
        assert event["payload"]["reason"] == batched[pair][1]  # the reason stored
        first = told_one_by_one[pair][0]["payload"]
        assert event["payload"]["previous_grade"] == first["previous_grade"], pair
    assert any(e[0]["payload"]["department_codes"] for e in told.values())
    assert any(e[0]["payload"]["consecutive_failing_years"] for e in told.values())
    assert any(e[0]["payload"]["previous_grade"] for e in told.values())
    # each event its own version of its measure, in year order, up to the measure's version
    for path in MEASURES:
        versions = [told[(path, y)][0]["aggregate_version"] for y in (2021, 2022)]
        stored = await plans_db.pool.fetchval(
            "select version from nodes where id = $1", ids.node_id(TENANT, "rg1", path)
        )
        assert versions == [stored - 1, stored], path


async def test_a_regrade_reads_once_for_the_whole_batch(plans_db: PlansDb) -> None:
    await _plan(plans_db, "rg3")
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.apply_indicator_statuses(conn, _events("rg3"))
    pairs: list[tuple[UUID, int]] = [
        (ids.node_id(TENANT, "rg3", path), year) for path in MEASURES for year in (2021, 2022)
    ]

    async def statements(regraded: list[tuple[UUID, int]]) -> list[str]:
        seen: list[str] = []

        def log(query: Any) -> None:
            seen.append(query.query)

        async with plans_db.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            conn.add_query_logger(log)
            try:
                # nothing changed since the last regrade: only the reads
                assert await commands.regrade(conn, regraded) == []
            finally:
                conn.remove_query_logger(log)
                await tx.rollback()
        return seen

    one, six = await statements(pairs[:1]), await statements(pairs)
    assert len(six) == len(one), six


async def test_grades_that_change_are_written_and_announced_together(plans_db: PlansDb) -> None:
    for key in ("rg4", "rg5", "rg6"):
        await _plan(plans_db, key)
    async with plans_db.pool.acquire() as conn:

        async def statements(events: list[Envelope[IndicatorStatusChanged]]) -> list[str]:
            seen: list[str] = []

            def log(query: Any) -> None:
                seen.append(query.query.split("\n")[0])

            async with conn.transaction():
                conn.add_query_logger(log)
                try:
                    await commands.apply_indicator_statuses(conn, events)
                finally:
                    conn.remove_query_logger(log)
            return seen

        await statements(_events("rg6")[:1])  # the connection learns the types it uses
        one = await statements(_events("rg4")[:1])  # the first grade of one (measure, year)
        six = await statements(_events("rg5"))  # the first grades of six
    assert len(await _announced(plans_db, "rg4")) == 1
    assert len(await _announced(plans_db, "rg5")) == 6
    assert len(six) == len(one), six
