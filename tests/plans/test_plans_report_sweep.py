"""The progress-report deadline sweep, driven by a FixedClock: reminders at each offset, one
overdue signal per measure once the date passed with no submitted report, each exactly once
however often the sweep runs; a submitted report stops the signals of its measure."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from suishin.contracts import ids
from suishin.contracts.enums import Role
from suishin.contracts.planfile import PlanFile
from suishin.kit.auth import Principal
from suishin.kit.clock import FixedClock
from suishin.plans import commands
from suishin.plans.importer import import_plan_file
from suishin.plans.sweep import sweep_deadlines

from .conftest import PlansDb, sample_plan_data

pytestmark = pytest.mark.integration

TENANT = "sweepku"
SWEEP_EVENTS = {"progress_report.due_soon", "progress_report.overdue"}
M1 = ids.node_id(TENANT, "p1", "基本方針Ⅰ/1")
ADMIN = Principal("jimukyoku@sweepku", TENANT, frozenset({Role.ADMIN}))
REPORTER = Principal(
    "it@sweepku", TENANT, frozenset({Role.REPORTER}), departments=frozenset({"IT推進課"})
)


async def signals(db: PlansDb) -> list[tuple[str, str, int | None]]:
    """(event type, measure code, days left / overdue) of the sweep's events, in order."""
    out = []
    for r in await db.pool.fetch("select body from outbox order by id"):
        event: dict[str, Any] = json.loads(bytes(r["body"]))
        if event["event_type"] not in SWEEP_EVENTS:
            continue
        p = event["payload"]
        out.append((event["event_type"], p["code"], p.get("days_left", p.get("days_overdue"))))
    return out


async def test_reminders_and_overdue_exactly_once(plans_db: PlansDb) -> None:
    data = sample_plan_data()
    data["tenant"] = {"slug": TENANT, "name": "掃除区"}
    await import_plan_file(plans_db.pool, PlanFile.model_validate(data))
    clock = FixedClock(datetime(2023, 5, 1, 0, 0, tzinfo=UTC))
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.set_report_deadline(
            conn, ADMIN, "FY2022", date(2023, 5, 31), [14, 7], now=clock.now()
        )
    # a month before: nothing yet
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 0
    # 14 days before (in Japan): a reminder per measure (three measures), once
    clock.set(datetime(2023, 5, 17, 0, 0, tzinfo=UTC))
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 3
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 0
    clock.set(datetime(2023, 5, 18, 0, 0, tzinfo=UTC))
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 0
    # the 所管課 of № 1 submits; 7 days before, the other two get the second reminder
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.save_progress_report(
            conn,
            REPORTER,
            M1,
            "FY2022",
            commands.ReportContent(results="実施"),
            None,
            now=clock.now(),
        )
        await commands.submit_progress_report(conn, REPORTER, M1, "FY2022", now=clock.now())
    clock.set(datetime(2023, 5, 25, 0, 0, tzinfo=UTC))
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 2
    # the day after the due date: one overdue per measure without a submitted report, once
    clock.set(datetime(2023, 6, 1, 0, 0, tzinfo=UTC))
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 2
    clock.set(datetime(2023, 6, 5, 0, 0, tzinfo=UTC))
    assert await sweep_deadlines(plans_db.pool, clock.now()) == 0
    assert await signals(plans_db) == [
        ("progress_report.due_soon", "№ 1", 14),
        ("progress_report.due_soon", "№ 2", 14),
        ("progress_report.due_soon", "№ 1", 14),
        ("progress_report.due_soon", "№ 2", 6),
        ("progress_report.due_soon", "№ 1", 6),
        ("progress_report.overdue", "№ 2", 1),
        ("progress_report.overdue", "№ 1", 1),
    ]


def test_the_secretariat_sets_a_deadline_from_the_cli(
    plans_db: PlansDb, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from suishin.cli.main import app

    monkeypatch.setenv("SUISHIN_SCHEMA_PREFIX", plans_db.settings.schema_prefix)
    url = plans_db.settings.database_url
    args = ["report-deadline", "--tenant", TENANT, "--period", "FY2023", "--database-url", url]
    ok = CliRunner().invoke(app, [*args, "--due", "2024-05-31", "--remind", "10"])
    assert ok.exit_code == 0, ok.output
    assert "提出期限 2024-05-31" in ok.output and "reminders 10 days before" in ok.output
    bad = CliRunner().invoke(app, [*args, "--due", "2024-05-31", "--remind", "0"])
    assert bad.exit_code == 1 and "INVALID_REMINDER_DAYS" in bad.output
    period = CliRunner().invoke(
        app, [*args[:3], "--period", "2023", "--database-url", url, "--due", "2024-05-31"]
    )
    assert period.exit_code == 1 and "INVALID_PERIOD" in period.output
