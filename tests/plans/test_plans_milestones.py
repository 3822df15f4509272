"""Milestones the plan prints (a mid-term review year, a national deadline past the plan period)
produce reminders: ``plan.milestone_due`` from a clock-driven, idempotent sweep, once per
milestone and reminder step."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from suishin.contracts import ids, topics
from suishin.contracts.planfile import Milestone, PlanFile
from suishin.devstack.testing import Infrastructure, TopicReader, isolated_settings, started
from suishin.kit.clock import FixedClock
from suishin.plans import commands
from suishin.plans.app import build
from suishin.plans.domain.milestones import MilestoneSpec, reminders_due
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

from .conftest import PlansDb, sample_plan_data

DEADLINE = date(2026, 3, 31)  # 標準化の期限: past the plan period (FY2021–FY2023)


def at(day: date) -> datetime:
    """09:00 in Japan on ``day``."""
    return datetime(day.year, day.month, day.day, 0, tzinfo=UTC)


# --- pure rules ---------------------------------------------------------------------------------


def test_a_milestone_falls_on_its_printed_date_or_the_start_of_its_year() -> None:
    assert Milestone(key="a", title="t", due_on="2026-03-31").due_date() == DEADLINE
    assert Milestone(key="a", title="t", due_on="2026-03").due_date() == DEADLINE
    assert Milestone(key="a", title="t", due_on="2025").due_date() == DEADLINE
    assert Milestone(key="a", title="t", due_on="2024-12").due_date() == date(2024, 12, 31)
    assert Milestone(key="a", title="t", fiscal_year="令和4年度").due_date() == date(2022, 4, 1)


def test_one_reminder_per_step_and_only_the_latest_when_the_sweep_ran_late() -> None:
    m = MilestoneSpec("std", "標準化", DEADLINE, (90, 30, 7, 0))
    assert reminders_due([m], set(), DEADLINE - timedelta(days=91)) == []
    [first] = reminders_due([m], set(), DEADLINE - timedelta(days=90))
    assert (first.remind_days, first.days_left, first.skipped) == (90, 90, False)
    sent = {("std", 90, DEADLINE)}
    assert reminders_due([m], sent, DEADLINE - timedelta(days=60)) == []
    late = reminders_due([m], sent, DEADLINE - timedelta(days=5))
    assert [(r.remind_days, r.days_left, r.skipped) for r in late] == [
        (7, 5, False),
        (30, 5, True),
    ]
    assert reminders_due([m], set(), DEADLINE + timedelta(days=1)) == []


# --- the sweep against the real database ------------------------------------------------------


def plan_with_milestones(key: str) -> PlanFile:
    data = sample_plan_data()
    data["plan"]["key"] = key
    data["plan"]["default_owner"] = "政策経営部"
    data["plan"]["level_labels"] = ["基本方針", "取組", "事業量"]
    data["plan"]["milestones"] = [
        {
            "key": "mid-term",
            "title": "中間見直し",
            "kind": "mid_term_review",
            "fiscal_year": 2022,
            "remind_days": [30, 0],
        },
        {
            "key": "standardisation",
            "title": "基幹業務システムの標準化（移行期限）",
            "kind": "national_deadline",
            "due_on": "2026-03-31",
            "node": "基本方針Ⅰ/1",
            "remind_days": [90, 0],
        },
    ]
    return PlanFile.model_validate(data)


async def outbox_milestones(db: PlansDb, plan_id: Any) -> list[dict[str, Any]]:
    rows = await db.pool.fetch(
        "select body from outbox where topic = 'plan.milestone_due' order by id"
    )
    bodies = [json.loads(r["body"])["payload"] for r in rows]
    return [b for b in bodies if b["plan_id"] == str(plan_id)]


async def sweep(db: PlansDb, day: date) -> int:
    async with db.pool.acquire() as conn, conn.transaction():
        return len(await commands.sweep_milestones(conn, at(day)))


@pytest.mark.integration
async def test_the_sweep_sends_each_step_once_with_the_owner_and_level_label(
    plans_db: PlansDb,
) -> None:
    plan = plan_with_milestones("ms1")
    await import_plan_file(plans_db.pool, plan)
    plan_id = plan.plan_id()
    assert await sweep(plans_db, date(2022, 3, 1)) == 0  # 31 days before the review
    assert await sweep(plans_db, date(2022, 3, 2)) == 1  # 30 days before
    assert await sweep(plans_db, date(2022, 3, 2)) == 0  # the same day again: nothing
    assert await sweep(plans_db, date(2022, 4, 1)) == 1  # on the day
    assert await sweep(plans_db, date(2022, 4, 2)) == 0  # past: nothing more
    # the national deadline, far past the plan period
    assert await sweep(plans_db, DEADLINE - timedelta(days=90)) == 1
    assert await sweep(plans_db, DEADLINE) == 1
    sent = await outbox_milestones(plans_db, plan_id)
    assert [(p["milestone_key"], p["days_left"]) for p in sent] == [
        ("mid-term", 30),
        ("mid-term", 0),
        ("standardisation", 90),
        ("standardisation", 0),
    ]
    review, _, deadline, _ = sent
    assert review["node_id"] is None and review["department_codes"] == ["政策経営部"]
    assert review["title"] == "中間見直し" and review["due_on"] == "2022-04-01"
    assert deadline["node_id"] == str(ids.node_id("sampleku", "ms1", "基本方針Ⅰ/1"))
    assert (deadline["code"], deadline["level_label"]) == ("№ 1", "取組")
    assert deadline["department_codes"] == ["IT推進課", "区民課"]


@pytest.mark.integration
async def test_drafts_send_no_reminders(plans_db: PlansDb) -> None:
    data = plan_with_milestones("ms2").model_dump(mode="json", exclude_defaults=True)
    data["plan"]["state"] = "proposal"  # 案
    plan = PlanFile.model_validate(data)
    await import_plan_file(plans_db.pool, plan)
    await sweep(plans_db, date(2022, 4, 1))
    assert await outbox_milestones(plans_db, plan.plan_id()) == []


@pytest.mark.integration
async def test_the_running_service_publishes_reminders_on_the_broker(
    infra: Infrastructure,
) -> None:
    clock = FixedClock(at(date(2022, 3, 2)))
    settings = isolated_settings(PlansSettings, infra, milestone_sweep_interval=0.2)
    runtime, _app = build(settings, clock=clock)
    async with started(runtime):
        plan = plan_with_milestones("ms3")
        await import_plan_file(runtime.pool, plan)
        async with TopicReader(
            infra.kafka_bootstrap, runtime.topic(topics.PLAN_MILESTONE_DUE)
        ) as reader:
            [first] = await reader.wait_for(1)
            clock.set(at(date(2022, 4, 1)))
            records = await reader.wait_for(2)
    payloads = [json.loads(r.value)["payload"] for r in records]
    assert [(p["milestone_key"], p["days_left"]) for p in payloads] == [
        ("mid-term", 30),
        ("mid-term", 0),
    ]
    assert json.loads(first.value)["tenant"] == "sampleku"
