"""The progress-report rules (pure): the workflow table, who may report, periods, schedule slips,
the deadline sweep's steps and the yearly status of a measure without numbers."""

from __future__ import annotations

import itertools
from datetime import date

import pytest

from suishin.contracts.enums import ProgressReportState as State
from suishin.contracts.enums import Role, ScheduleAdherence
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError
from suishin.plans.domain import reports

A = ScheduleAdherence


def principal(*roles: Role, departments: tuple[str, ...] = ()) -> Principal:
    return Principal("u", "t", frozenset(roles), frozenset(departments))


def test_the_workflow_moves_only_forward_in_order() -> None:
    path = [State.DRAFT, State.SUBMITTED, State.ACCEPTED, State.APPROVED, State.PUBLISHED]
    for current, to in itertools.pairwise(path):
        reports.check_transition(current, to)
    reports.check_transition(State.SUBMITTED, State.RETURNED)
    reports.check_transition(State.RETURNED, State.SUBMITTED)
    for current, to in [
        (State.DRAFT, State.ACCEPTED),
        (State.SUBMITTED, State.APPROVED),
        (State.RETURNED, State.ACCEPTED),
        (State.ACCEPTED, State.PUBLISHED),
        (State.PUBLISHED, State.SUBMITTED),
        (State.SUPERSEDED, State.PUBLISHED),
    ]:
        with pytest.raises(DomainError) as refused:
            reports.check_transition(current, to)
        assert refused.value.code == "REPORT_INVALID_TRANSITION"
        assert refused.value.message_ja and refused.value.message_en


def test_who_may_report() -> None:
    owners = ["情報政策課", "健康推進課"]
    assert reports.may_report(principal(Role.REPORTER, departments=("健康推進課",)), owners)
    assert not reports.may_report(principal(Role.REPORTER, departments=("税務課",)), owners)
    assert not reports.may_report(principal(Role.ADMIN, departments=("健康推進課",)), owners)
    with pytest.raises(DomainError) as refused:
        reports.check_may_report(principal(Role.VIEWER), owners)
    assert refused.value.code == "REPORT_NOT_OWNER"
    reports.check_may_publish(principal(Role.EXECUTIVE))
    reports.check_may_publish(principal(Role.ADMIN))
    with pytest.raises(DomainError):
        reports.check_may_approve(principal(Role.ADMIN))


def test_periods() -> None:
    assert reports.parse_period("FY2024") == reports.ReportPeriod("FY2024", 2024, False)
    assert reports.parse_period("FY2024-H1").interim
    for bad in ("2024", "FY24", "FY2024-H2"):
        with pytest.raises(DomainError):
            reports.parse_period(bad)
    with pytest.raises(DomainError) as refused:
        reports.check_period_in_plan(reports.parse_period("FY2025"), 2020, 2024)
    assert refused.value.code == "REPORT_PERIOD_OUT_OF_PLAN"


SCHEDULE = [
    {"fiscal_year": 2022, "track": "基盤", "label": "-", "phase": "none"},
    {"fiscal_year": 2023, "track": "基盤", "label": "構築", "phase": "building"},
    {"fiscal_year": 2024, "track": "基盤", "label": "運用", "phase": "running"},
    {"fiscal_year": 2024, "track": "", "label": "検討", "phase": "planning"},
]


def test_schedule_slips_need_a_planned_year() -> None:
    tracks = reports.planned_tracks(SCHEDULE)
    assert tracks["基盤"].first_year == 2023
    entries = [
        reports.AdherenceEntry("基盤", A.DELAYED, "遅れ"),
        reports.AdherenceEntry("", A.ON_SCHEDULE),
    ]
    reports.check_adherence(entries, tracks, 2024)
    slipped = reports.slipped(entries, tracks, 2024)
    assert [(s.track, s.planned, s.adherence) for s in slipped] == [("基盤", "運用", A.DELAYED)]
    # 2022 prints '-' for 基盤: not started is no slip before the planned year
    early = [reports.AdherenceEntry("基盤", A.NOT_STARTED)]
    assert reports.slipped(early, tracks, 2022) == []
    with pytest.raises(DomainError) as refused:
        reports.check_adherence([reports.AdherenceEntry("", A.DELAYED)], tracks, 2023)
    assert refused.value.code == "REPORT_UNKNOWN_TRACK"
    with pytest.raises(DomainError) as twice:
        reports.check_adherence([entries[0], entries[0]], tracks, 2024)
    assert twice.value.code == "REPORT_DUPLICATE_TRACK"


def test_sweep_steps() -> None:
    due = date(2024, 5, 31)
    assert reports.due_steps(due, [14, 7], date(2024, 5, 1)) == ([], None)
    reached, now = reports.due_steps(due, [14, 7], date(2024, 5, 17))
    assert now == reports.SweepStep("remind:14", 14) and reached == [now]
    # a late start: the nearest reminder only, the earlier one recorded as reached
    reached, now = reports.due_steps(due, [14, 7], date(2024, 5, 30))
    assert now == reports.SweepStep("remind:7", 1)
    assert [s.step for s in reached] == ["remind:7", "remind:14"]
    assert reports.due_steps(due, [14, 7], date(2024, 5, 31))[1] == reports.SweepStep("remind:7", 0)
    reached, now = reports.due_steps(due, [14, 7], date(2024, 6, 3))
    assert now == reports.SweepStep("overdue", 3)
    assert {s.step for s in reached} == {"remind:14", "remind:7", "overdue"}


def test_yearly_status_without_numbers() -> None:
    def status(**kw: object) -> tuple[str, str, str | None]:
        args: dict[str, object] = {
            "lifecycle": None,
            "grade": None,
            "grade_is_failing": False,
            "adherence": None,
        }
        args.update(kw)
        found = reports.yearly_status(**args)  # type: ignore[arg-type]
        return found.status, found.source, found.grade

    assert status() == ("no_data", "none", None)
    assert status(lifecycle="完了") == ("complete", "lifecycle", None)
    assert status(adherence=[A.ON_SCHEDULE, A.DELAYED]) == ("behind", "report", None)
    assert status(adherence=[A.COMPLETED, A.CANCELLED]) == ("complete", "report", None)
    assert status(adherence=[A.AHEAD], grade="A") == ("on_track", "report", "A")
    assert status(grade="not_achieved", grade_is_failing=True) == (
        "behind",
        "grade",
        "not_achieved",
    )
    assert status(adherence=[]) == ("on_track", "report", None)
