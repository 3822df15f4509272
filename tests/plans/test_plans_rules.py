"""Pure rules: codes, phases, the tree, the lifecycle table and the grade scales."""

from __future__ import annotations

from decimal import Decimal

import pytest

from suishin.contracts.enums import IndicatorStatus, MeasureStatus, Role
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, Forbidden
from suishin.plans.domain.grading import (
    ITABASHI_SCALE,
    NERIMA_SCALE,
    IndicatorResult,
    consecutive_failing_years,
    machine_grade,
    result_from_event,
    yearly_indicator_status,
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
    return IndicatorResult("i", status, quantitative, exceeded)


A, OFF, ND = IndicatorStatus.ACHIEVED, IndicatorStatus.OFF_TRACK, IndicatorStatus.NO_DATA


@pytest.mark.parametrize(
    ("results", "grade"),
    [
        ([r(A, True, True), r(A, True, True)], "achieved_plus"),
        ([r(A, True, True), r(A)], "achieved_plus"),  # qualitative items neither earn nor block
        ([r(A, True, True), r(A, True, False)], "achieved"),  # not every workload exceeded
        ([r(A), r(A)], "achieved"),  # no numeric workload: no 達成＋
        ([r(A, True, True), r(OFF, True)], "achieved"),  # most (half) achieved
        ([r(A), r(OFF), r(OFF)], "not_achieved"),
        ([r(ND)], None),
    ],
)
def test_itabashi_scale(results: list[IndicatorResult], grade: str | None) -> None:
    assert machine_grade(ITABASHI_SCALE, results).grade == grade


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


def test_yearly_status_and_event_figures() -> None:
    assert yearly_indicator_status(actual=Decimal(13), target=Decimal(10)) == A
    assert yearly_indicator_status(actual=Decimal(9), target=Decimal(10)) == OFF
    assert yearly_indicator_status(actual=Decimal(3), target=Decimal(5), comparator="lte") == A
    assert (
        yearly_indicator_status(actual=Decimal(104), target=Decimal(100), comparator="approx") == A
    )
    assert yearly_indicator_status(actual=None, target=Decimal(1)) == ND
    exceeded = result_from_event("i", A, {"actual": 13, "target": 10, "comparator": "gte"})
    assert exceeded.quantitative and exceeded.exceeded
    exact = result_from_event("i", A, {"actual": 10, "target": 10, "comparator": "gte"})
    assert exact.quantitative and not exact.exceeded
    text = result_from_event("i", A, {"target_text": "実施"})
    assert not text.quantitative
