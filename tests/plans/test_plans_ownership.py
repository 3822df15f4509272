"""Plans that name no owning department: the plan's default owner answers for them (reporting
rights, the events' department_codes, the workbook), and the plan's own words (level labels,
year style) reach events and the workbook."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import yaml
from openpyxl import load_workbook

from suishin.contracts import ids
from suishin.contracts.enums import MeasureStatus
from suishin.contracts.planfile import PlanFile, PlanFileInvalid, loads_plan_file
from suishin.kit.auth import Principal, Role
from suishin.kit.errors import Forbidden
from suishin.plans import commands
from suishin.plans.domain.ownership import (
    OwnerSource,
    level_label,
    owners_for_reporting,
    owners_shown,
)
from suishin.plans.importer import import_plan_file
from suishin.plans.xlsx import progress_workbook

from .conftest import PlansDb, sample_plan_data

SECRETARIAT = "DX推進本部事務局"


# --- pure rules ---------------------------------------------------------------------------------


def test_owners_for_reporting_prefers_the_node_then_the_ancestors_then_the_plan_default() -> None:
    assert owners_for_reporting(["IT推進課"], [["区民課"]], SECRETARIAT).codes == ("IT推進課",)
    inherited = owners_for_reporting([], [[], ["区民課"]], SECRETARIAT)
    assert (inherited.codes, inherited.source) == (("区民課",), OwnerSource.ANCESTOR)
    default = owners_for_reporting([], [[], []], SECRETARIAT)
    assert (default.codes, default.is_plan_default) == ((SECRETARIAT,), True)
    assert owners_shown(default) == f"{SECRETARIAT}（計画の既定の所管）"
    nobody = owners_for_reporting([], [], None)
    assert (nobody.codes, nobody.source) == ((), OwnerSource.NONE)


def test_level_label_is_the_plans_word_for_the_level() -> None:
    assert level_label(["基本方針", "取組", "事業量"], 1) == "取組"
    assert level_label(["基本方針"], 3) is None


def test_a_default_owner_must_be_a_department_of_the_file() -> None:
    data = sample_plan_data()
    data["plan"]["default_owner"] = "存在しない課"
    with pytest.raises(PlanFileInvalid) as invalid:
        loads_plan_file(yaml.safe_dump(data, allow_unicode=True), "plan.yaml")
    [error] = invalid.value.errors
    assert (error.path, error.code) == ("plan.default_owner", "unknown_department")
    assert error.line is not None and "部署「存在しない課」" in error.message_ja


# --- against the real database ------------------------------------------------------------------


def plan_without_owners(key: str, **tenant: Any) -> PlanFile:
    data = sample_plan_data()
    data["tenant"].update(tenant)
    data["plan"]["key"] = key
    data["plan"]["level_labels"] = ["基本方針", "取組", "事業量"]
    data["plan"]["default_owner"] = SECRETARIAT
    data["departments"].append({"code": SECRETARIAT, "name": SECRETARIAT})
    data["published_evaluations"] = None
    data["nodes"][0]["children"][1]["owners"] = []  # 基本方針Ⅰ/2 names no 所管課
    return PlanFile.model_validate(data)


@pytest.mark.integration
async def test_the_default_owner_has_the_reporting_rights_and_gets_the_alerts(
    plans_db: PlansDb,
) -> None:
    await import_plan_file(plans_db.pool, plan_without_owners("own1"))
    measure = ids.node_id("sampleku", "own1", "基本方針Ⅰ/2")
    owned = ids.node_id("sampleku", "own1", "基本方針Ⅰ/1")
    async with plans_db.pool.acquire() as conn:
        answer = await commands.owners_for_reporting(conn, measure)
        assert (answer.codes, answer.is_plan_default) == ((SECRETARIAT,), True)
        assert (await commands.owners_for_reporting(conn, owned)).codes == ("IT推進課", "区民課")

    other = Principal("it", "sampleku", frozenset({Role.REPORTER}), frozenset({"IT推進課"}))
    secretariat = Principal("dx", "sampleku", frozenset({Role.REPORTER}), frozenset({SECRETARIAT}))
    async with plans_db.pool.acquire() as conn, conn.transaction():
        with pytest.raises(Forbidden):
            await commands.change_measure_status(
                conn, other, measure, MeasureStatus.CONTINUED, "継続"
            )
    async with plans_db.pool.acquire() as conn, conn.transaction():
        event = await commands.change_measure_status(
            conn, secretariat, measure, MeasureStatus.CONTINUED, "継続"
        )
    assert event.payload.department_codes == [SECRETARIAT]
    assert event.payload.level_label == "取組"
    admin = Principal("admin", "sampleku", frozenset({Role.ADMIN}))
    async with plans_db.pool.acquire() as conn, conn.transaction():
        evaluated = await commands.override_grade(
            conn, admin, measure, 2021, "not_achieved", "確認", now=datetime.now(UTC)
        )
    assert evaluated is not None
    assert evaluated.payload.department_codes == [SECRETARIAT]
    assert evaluated.payload.level_label == "取組"
    bodies = [
        json.loads(r["body"])["payload"]
        for r in await plans_db.pool.fetch("select body from outbox order by id")
    ]
    assert {(b.get("level_label"), tuple(b["department_codes"])) for b in bodies} == {
        ("取組", (SECRETARIAT,))
    }


@pytest.mark.integration
async def test_the_workbook_speaks_the_plans_words(plans_db: PlansDb) -> None:
    await import_plan_file(plans_db.pool, plan_without_owners("own2"))
    sheet = (await progress_workbook(plans_db.pool, "sampleku", "own2"))["進捗状況一覧"]
    header = [c.value for c in sheet[2]]
    assert header[:5] == ["No.", "取組名", "所管課", "ステータス", "令和3年度 計画"]
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert rows[1][2] == f"{SECRETARIAT}（計画の既定の所管）"
    assert all("未設定" not in str(v) for r in rows for v in r)


@pytest.mark.integration
async def test_the_year_style_comes_from_the_plan_files_tenant_settings(
    plans_db: PlansDb, tmp_path: Any
) -> None:
    await import_plan_file(plans_db.pool, plan_without_owners("own3", year_style="fy"))
    workbook = await progress_workbook(plans_db.pool, "sampleku", "own3")
    path = tmp_path / "fy.xlsx"
    workbook.save(path)
    reread = load_workbook(path)
    assert reread["進捗状況一覧"]["E2"].value == "FY2021 計画"
    assert [r[0] for r in reread["評価集計"].iter_rows(min_row=2, values_only=True)] == [
        "FY2021",
        "FY2022",
        "FY2023",
    ]


def test_a_goals_yearly_status_counts_its_evaluable_indicators() -> None:
    from suishin.contracts.enums import IndicatorStatus as S
    from suishin.plans.domain.goals import GoalStatus, goal_year, goal_years

    assert goal_year(2024, [S.ACHIEVED, S.ON_TRACK]).status is GoalStatus.ALL_MET
    some = goal_year(2024, [S.ACHIEVED, S.OFF_TRACK, S.NO_DATA])
    assert (some.status, some.met, some.evaluated, some.indicators) == (
        GoalStatus.SOME_MET,
        1,
        2,
        3,
    )
    none = goal_year(2024, [S.AT_RISK])
    assert none.is_failing and none.label == "未達成（0/1指標）"
    assert goal_year(2024, [S.STALE]).label == "実績なし"
    assert [y.fiscal_year for y in goal_years([(2025, S.ACHIEVED), (2024, S.ACHIEVED)])] == [
        2024,
        2025,
    ]


def test_a_goal_indicator_routes_to_the_goals_owner_or_the_plans_default() -> None:
    data = sample_plan_data()
    data["plan"]["default_owner"] = "政策経営部"
    data["indicators"] = [
        {"key": "g1", "title": "満足度", "nodes": ["基本方針Ⅱ"]},
        {"key": "g2", "title": "満足度", "nodes": ["基本方針Ⅰ"]},
    ]
    data["nodes"][0]["owners"] = ["IT推進課"]
    plan = PlanFile.model_validate(data)
    # the indicators service stores these as owner_departments: its events' department_codes
    assert plan.indicator_owners(plan.indicators[0]) == ["政策経営部"]
    assert plan.indicator_owners(plan.indicators[1]) == ["IT推進課"]


@pytest.mark.integration
async def test_the_workbook_lists_the_goals_indicators_and_status(plans_db: PlansDb) -> None:
    from suishin.contracts.enums import IndicatorStatus
    from suishin.contracts.events import Figures, IndicatorStatusChanged, new_event

    await import_plan_file(plans_db.pool, plan_without_owners("own4"))
    goal = ids.node_id("sampleku", "own4", "基本方針Ⅱ")
    events = [
        new_event(
            IndicatorStatusChanged(
                indicator_id=ids.indicator_id("sampleku", key),
                indicator_key=key,
                title=title,
                period="FY2021",
                fiscal_year=2021,
                from_status=None,
                to_status=status,
                figures=Figures(actual=40, target=60, comparator="gte", unit="%"),
                rule="yearly_target",
                reason="テスト",
                measure_ids=[goal],
            ),
            tenant="sampleku",
            aggregate_id=str(ids.indicator_id("sampleku", key)),
            producer="indicators",
            aggregate_version=1,
        )
        for key, title, status in (
            ("own4.g1", "区民満足度", IndicatorStatus.OFF_TRACK),
            ("own4.g2", "利用率", IndicatorStatus.AT_RISK),
        )
    ]
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.apply_indicator_statuses(conn, events)
    workbook = await progress_workbook(plans_db.pool, "sampleku", "own4")
    sheet = workbook["目標の指標"]
    assert [c.value for c in sheet[1]][:5] == [
        "No.",
        "基本方針名",
        "所管課",
        "令和3年度 実績（指標）",
        "令和3年度 状況",
    ]
    [row] = list(sheet.iter_rows(min_row=2, values_only=True))
    assert row[:3] == ("基本方針Ⅱ", "区民サービスの向上", f"{SECRETARIAT}（計画の既定の所管）")
    assert "区民満足度: 40/60% 未達" in row[3] and row[4] == "未達成（0/2指標）"
    assert sheet.cell(row=2, column=5).fill.fgColor.rgb.endswith("FCE4D6")  # failing


# --- progress reports of a plan that names no 所管課 ----------------------------------------------


async def _outbox(plans_db: PlansDb) -> list[dict[str, Any]]:
    return [
        json.loads(r["body"])
        for r in await plans_db.pool.fetch("select body from outbox order by id")
    ]


def _without_any_owner(nodes: list[dict[str, Any]]) -> None:
    for node in nodes:
        node["owners"] = []
        node.pop("lead", None)
        _without_any_owner(node.get("children") or [])


def test_a_report_refusal_names_the_level_label_and_never_an_empty_owner() -> None:
    from suishin.kit.errors import DomainError
    from suishin.plans.domain import reports

    stranger = Principal("x", "sampleku", frozenset({Role.REPORTER}), frozenset({"税務課"}))
    default = owners_for_reporting([], [[]], SECRETARIAT)
    with pytest.raises(DomainError) as refused:
        reports.check_may_report(stranger, default, "取組")
    assert refused.value.code == "REPORT_NOT_OWNER"
    assert refused.value.message_ja == (
        f"この取組の進捗報告を作成・提出できるのは計画の既定の所管（{SECRETARIAT}）の報告者のみです"
    )
    assert "default owner" in refused.value.message_en
    with pytest.raises(DomainError) as nobody:
        reports.check_may_report(stranger, owners_for_reporting([], [], None), "取組")
    assert nobody.value.message_ja.startswith("この取組には所管課も計画の既定の所管もない")
    assert "未設定" not in nobody.value.message_ja


@pytest.mark.integration
async def test_the_default_owner_writes_and_submits_the_progress_reports(
    plans_db: PlansDb,
) -> None:
    from suishin.kit.errors import DomainError

    data = plan_without_owners("own5").model_dump(mode="json", exclude_none=True)
    _without_any_owner(data["nodes"])
    await import_plan_file(plans_db.pool, PlanFile.model_validate(data))
    measure = ids.node_id("sampleku", "own5", "基本方針Ⅰ/1")
    other = ids.node_id("sampleku", "own5", "基本方針Ⅱ/1")
    now = datetime(2022, 5, 10, tzinfo=UTC)
    content = commands.ReportContent(results="研修を3回実施した")
    stranger = Principal("it", "sampleku", frozenset({Role.REPORTER}), frozenset({"IT推進課"}))
    reporter = Principal("dx", "sampleku", frozenset({Role.REPORTER}), frozenset({SECRETARIAT}))

    async with plans_db.pool.acquire() as conn:
        with pytest.raises(DomainError) as refused:
            async with conn.transaction():
                await commands.save_progress_report(
                    conn, stranger, measure, "FY2021", content, None, now=now
                )
    assert refused.value.code == "REPORT_NOT_OWNER"
    assert "この取組の進捗報告" in refused.value.message_ja
    assert f"計画の既定の所管（{SECRETARIAT}）" in refused.value.message_ja
    assert "未設定" not in refused.value.message_ja
    assert (
        await plans_db.pool.fetchval(
            "select count(*) from progress_reports where measure_id = $1", measure
        )
        == 0
    )

    async with plans_db.pool.acquire() as conn, conn.transaction():
        saved = await commands.save_progress_report(
            conn, reporter, measure, "FY2021", content, None, now=now
        )
        submitted = await commands.submit_progress_report(
            conn, reporter, measure, "FY2021", saved["revision"], now=now
        )
    assert submitted["state"] == "submitted"
    [body] = [
        b
        for b in await _outbox(plans_db)
        if b["event_type"] == "progress_report.submitted"
        and b["payload"]["measure_id"] == str(measure)
    ]
    assert body["payload"]["department_codes"] == [SECRETARIAT]
    assert body["payload"]["level_label"] == "取組"

    # the deadline sweep routes the overdue signal of an unowned measure to the default owner
    admin = Principal("admin", "sampleku", frozenset({Role.ADMIN}))
    late = datetime(2023, 7, 5, tzinfo=UTC)
    async with plans_db.pool.acquire() as conn, conn.transaction():
        deadline = await commands.set_report_deadline(
            conn, admin, "FY2022", datetime(2023, 6, 30).date(), [7], now=late
        )
        assert await commands.sweep_report_deadline(conn, deadline, late) > 0
    overdue = [
        b["payload"]
        for b in await _outbox(plans_db)
        if b["event_type"] == "progress_report.overdue"
    ]
    mine = {p["measure_id"]: p for p in overdue if p["measure_id"] in (str(measure), str(other))}
    assert set(mine) == {str(measure), str(other)}
    assert {tuple(p["department_codes"]) for p in mine.values()} == {(SECRETARIAT,)}
    assert {p["level_label"] for p in mine.values()} == {"取組"}

    # a completed 取組 is graded 達成 with the plan's word in the machine reason
    async with plans_db.pool.acquire() as conn, conn.transaction():
        await commands.change_measure_status(
            conn, admin, other, MeasureStatus.COMPLETED, "事業完了"
        )
    reasons = [
        r["machine_reason"]
        for r in await plans_db.pool.fetch(
            "select machine_reason from grades where measure_id = $1", other
        )
    ]
    assert reasons and all("取組として完了" in r and "施策" not in r for r in reasons)
