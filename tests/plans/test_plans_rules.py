"""Pure rules: codes, phases, the tree, the lifecycle table and the grade scales."""

from __future__ import annotations

from dataclasses import replace

import pytest

from suishin.contracts.enums import IndicatorStatus, MeasureStatus, Role
from suishin.contracts.planfile import GradingScale
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, Forbidden
from suishin.plans.domain.grading import (
    ITABASHI_SCALE,
    NERIMA_SCALE,
    IndicatorResult,
    consecutive_failing_years,
    machine_grade,
    result_from_event,
    scale_from_plan_file,
)
from suishin.plans.domain.lifecycle import (
    ACTIVE,
    REOPEN_TARGETS,
    TERMINAL,
    check_may_edit,
    check_transition,
)
from suishin.plans.domain.tree import NodeSpec, normalize_code, normalize_phase, validate_tree

S = MeasureStatus
ADMIN = Principal("admin", "itabashi", frozenset({Role.ADMIN}))
EXECUTIVE = Principal("cio", "itabashi", frozenset({Role.EXECUTIVE}))
REPORTER = Principal("it", "itabashi", frozenset({Role.REPORTER}), frozenset({"IT推進課"}))


@pytest.mark.parametrize(
    ("printed", "normalised"),
    [("№ 1", "1"), ("No.12", "12"), ("（１）", "1"), ("Ⅲ", "III"), ("①", "1"), ("1-1", "1-1")],
)
def test_codes_normalise(printed: str, normalised: str) -> None:
    assert normalize_code(printed) == normalised


@pytest.mark.parametrize(
    ("label", "phase"),
    [
        ("検討", "study"),
        ("構築", "build"),
        ("運用開始", "launch"),
        ("-", "none"),
        ("", "none"),
        ("→", "continue"),
        ("拡大", "expand"),
        ("運用", "operate"),
        ("謎", "other"),
    ],
)
def test_schedule_labels_normalise(label: str, phase: str) -> None:
    assert normalize_phase(label) == phase


def test_tree_rules_report_every_problem() -> None:
    nodes = [
        NodeSpec("a", None, "A", "a"),
        NodeSpec("a/1", "a", "1", "1", goal_paths=("a/1/x",)),  # goal inside itself
        NodeSpec("a/1/x", "a/1", "x", "x"),
        NodeSpec("a/2", "a", "№1", "1"),  # same normalised code as a/1
        NodeSpec("b", "c", "B", "b"),  # b and c are each other's parents
        NodeSpec("c", "b", "C", "c"),
        NodeSpec("d", "zz", "D", "d", goal_paths=("nope",)),
    ]
    codes = sorted(e.code for e in validate_tree(nodes))
    assert codes == ["DUPLICATE_CODE", "GOAL_CYCLE", "TREE_CYCLE", "UNKNOWN_GOAL", "UNKNOWN_PARENT"]


def test_transition_table() -> None:
    for current in ACTIVE:
        for to in set(S) - {current}:
            check_transition(current, to, actor=REPORTER)  # active → anything else
    for current in TERMINAL:
        for to in S:
            if to == current:
                continue
            with pytest.raises(DomainError) as refused:
                check_transition(current, to, actor=EXECUTIVE)
            assert refused.value.code in ("INVALID_TRANSITION", "REOPEN_FORBIDDEN")
            if to in REOPEN_TARGETS:
                check_transition(current, to, actor=ADMIN)  # the 事務局 may reopen
            else:
                with pytest.raises(DomainError):
                    check_transition(current, to, actor=ADMIN)
    with pytest.raises(DomainError, match="INVALID_TRANSITION"):
        check_transition(S.COMPLETED, S.NEW, actor=EXECUTIVE)
    with pytest.raises(DomainError, match="STATUS_UNCHANGED"):
        check_transition(S.NEW, S.NEW, actor=ADMIN)


def test_only_owners_admins_and_executives_edit() -> None:
    check_may_edit(ADMIN, [])
    check_may_edit(EXECUTIVE, ["区民課"])
    check_may_edit(REPORTER, ["区民課", "IT推進課"])
    with pytest.raises(Forbidden):
        check_may_edit(REPORTER, ["区民課"])
    with pytest.raises(Forbidden):
        check_may_edit(Principal("v", "itabashi", frozenset({Role.VIEWER})), ["IT推進課"])


def r(
    status: IndicatorStatus, quantitative: bool = False, exceeded: bool = False
) -> IndicatorResult:
    bar = "年度目標「10件以上」を上回る実績 13件" if exceeded else None
    return IndicatorResult("i", status, quantitative, exceeded, bar=bar)


A, OFF, ND = IndicatorStatus.ACHIEVED, IndicatorStatus.OFF_TRACK, IndicatorStatus.NO_DATA

LATE = scale_from_plan_file(
    "itabashi",
    "後期",
    GradingScale.model_validate(
        {
            "rule": "itabashi-dx2025-late",
            "grades": [
                {"code": "achieved_plus", "label": "達成＋"},
                {"code": "achieved", "label": "達成"},
                {"code": "not_achieved", "label": "未達成", "failing": True},
            ],
        }
    ),
)


@pytest.mark.parametrize(
    ("results", "completed", "early", "late"),
    [
        ([r(A, True, True), r(A, True, True)], False, "achieved_plus", "achieved_plus"),
        # 前期: one printed bar beaten is the year's workload exceeded; 後期 asks every
        # quantitative workload to be met
        ([r(A, True, True), r(OFF, True)], False, "achieved_plus", "achieved"),
        ([r(A, True, True), r(A)], False, "achieved_plus", "achieved_plus"),
        ([r(A, True, True), r(A, True, False)], False, "achieved_plus", "achieved_plus"),
        ([r(A), r(A)], False, "achieved", "achieved"),  # nothing beaten: 達成
        ([r(A), r(OFF), r(OFF)], False, "not_achieved", "not_achieved"),
        ([r(OFF), r(OFF)], True, "achieved", "achieved"),  # 又は施策として完了
        ([r(ND)], False, None, None),
        ([], True, "achieved", "achieved"),
    ],
)
def test_itabashi_rules(
    results: list[IndicatorResult], completed: bool, early: str | None, late: str | None
) -> None:
    assert machine_grade(ITABASHI_SCALE, results, completed=completed).grade == early
    assert machine_grade(LATE, results, completed=completed).grade == late


def test_the_reason_names_the_printed_bar_that_decided() -> None:
    plus = machine_grade(ITABASHI_SCALE, [r(A, True, True), r(A)])
    assert "年度目標「10件以上」を上回る実績 13件" in plus.reason
    done = machine_grade(ITABASHI_SCALE, [r(OFF)], completed=True)
    assert done.grade == "achieved" and "施策として完了" in done.reason
    # the reason names the level in the plan's own word
    worded = machine_grade(ITABASHI_SCALE, [r(OFF)], completed=True, level_label="取組")
    assert "取組として完了" in worded.reason and "施策" not in worded.reason


def test_nerima_scale_and_failing_streaks() -> None:
    assert machine_grade(NERIMA_SCALE, [r(A), r(A)]).grade == "A"
    assert machine_grade(NERIMA_SCALE, [r(A), r(OFF)]).grade == "B"
    assert machine_grade(NERIMA_SCALE, [r(OFF)]).grade == "C"
    assert ITABASHI_SCALE.grade("達成+").code == "achieved_plus"
    with pytest.raises(DomainError, match="UNKNOWN_GRADE"):
        ITABASHI_SCALE.grade("A")
    grades = {2021: "not_achieved", 2022: "not_achieved", 2023: "achieved", 2024: "not_achieved"}
    assert consecutive_failing_years(ITABASHI_SCALE, grades, 2022) == 2
    assert consecutive_failing_years(ITABASHI_SCALE, grades, 2023) == 0
    assert consecutive_failing_years(ITABASHI_SCALE, grades, 2024) == 1


def test_only_printed_bars_count_as_exceeded() -> None:
    year = {"actual": 13, "target": 10, "comparator": "gte", "target_text": "10件以上"}
    exceeded = result_from_event("i", A, year, rule="per_year_final")
    assert exceeded.quantitative and exceeded.bar and "10件以上" in exceeded.bar
    exact = result_from_event("i", A, {**year, "actual": 10}, rule="per_year_final")
    assert exact.quantitative and not exact.exceeded
    # a year share of a 3-year total is not printed: never a bar
    share = {"actual": 13, "target": 30, "expected_to_date": 10, "comparator": "gte"}
    assert result_from_event("i", A, share, rule="cumulative_year_share").bar is None
    # a total reached only by adding earlier years is not exceeded within the year
    assert result_from_event("i", A, share, rule="cumulative_reached").bar is None
    in_year = result_from_event("i", A, share, rule="cumulative_reached_in_year")
    assert in_year.bar and "年度内の実績だけで到達" in in_year.bar
    # a number printed only in the actual (55手続き拡大 against 拡大) is not a bar
    expansion = {"actual": 55, "target_text": "拡大"}
    assert result_from_event("i", A, expansion, rule="text_expansion").bar is None
    printed = {"actual": 30, "target": 25, "target_text": "25手続き拡大"}
    assert result_from_event("i", A, printed, rule="text_expansion").bar
    text = result_from_event("i", A, {"target_text": "実施"}, rule="milestone_reported")
    assert not text.quantitative and text.bar is None


def test_a_year_share_of_a_multi_year_total_is_re_read_against_printed_bars() -> None:
    # 施策11 操作研修 「計10回以上 | 2回 3回」: the indicators service finds 2 of 10 behind the
    # straight-line 3.33 (off_track); the plan prints no yearly target, and the ward graded 達成
    total = {"target": 10, "comparator": "gte", "unit": "回", "target_text": "計10回以上"}
    behind = {**total, "actual": 2, "year_actual": 2, "expected_to_date": "3.33"}
    done = result_from_event("i", OFF, behind, rule="cumulative_year_share", fiscal_year=2021)
    assert done.met is True and done.counts_as_met and done.bar is None
    assert done.note == "複数年度の目標「計10回以上」に向けて実施（令和3年度 2回）"
    # ahead of the share but nothing done in the year: not met (no printed bar reached)
    idle = {**total, "actual": 4, "year_actual": 0, "expected_to_date": "3.33"}
    none = result_from_event("i", A, idle, rule="cumulative_year_share", fiscal_year=2022)
    assert none.met is False and not none.counts_as_met
    assert none.note and "実績なし（令和4年度 0回）" in none.note
    # mid-year (cumulative_prorated) reads the same way
    running = result_from_event("i", OFF, behind, rule="cumulative_prorated", fiscal_year=2021)
    assert running.met is True
    # an upper limit over the period is met while the running total stays within it
    cap = {
        "target": 10,
        "comparator": "lte",
        "actual": 12,
        "year_actual": 5,
        "target_text": "計10件以下",
    }
    assert result_from_event("i", A, cap, rule="cumulative_year_share").met is False
    # statuses decided against a printed bar, or events without the year's figure, keep their
    # status
    assert result_from_event("i", OFF, behind, rule="cumulative_final").met is None
    old = {k: v for k, v in behind.items() if k != "year_actual"}
    assert result_from_event("i", OFF, old, rule="cumulative_year_share").met is None
    assert result_from_event("i", ND, behind, rule="cumulative_year_share").met is None

    # the grade counts the re-read indicator and its reason names the printed bar
    decision = machine_grade(ITABASHI_SCALE, [replace(done, title="操作研修"), r(OFF)])
    assert decision.grade == "achieved" and decision.met == 1
    assert "操作研修: 複数年度の目標「計10回以上」に向けて実施（令和3年度 2回）" in decision.reason
    failing = machine_grade(ITABASHI_SCALE, [none, r(OFF)])
    assert failing.grade == "not_achieved" and "実績なし" in failing.reason
    # 後期: every quantitative workload met counts the re-read status as well
    quantitative = replace(done, quantitative=True)
    assert machine_grade(LATE, [quantitative, r(A, True, True)]).grade == "achieved_plus"
    assert machine_grade(LATE, [replace(none, quantitative=True), r(A, True, True)]).grade == (
        "achieved"
    )
