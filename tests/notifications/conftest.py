"""Fixtures of the notifications tests: a real SMTP server, a small directory, event builders."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from types import SimpleNamespace
from typing import Any
from uuid import UUID, uuid4

import pytest

from suishin.contracts.enums import IndicatorStatus, ProgressReportState, ScheduleAdherence
from suishin.contracts.events import (
    Envelope,
    Figures,
    IndicatorStatusChanged,
    MeasureEvaluated,
    Payload,
    PlanMilestoneDue,
    ProgressReportAccepted,
    ProgressReportApproved,
    ProgressReportDueSoon,
    ProgressReportOverdue,
    ProgressReportPublished,
    ProgressReportReturned,
    ProgressReportSubmitted,
    ScheduleSlipped,
    SlippedTrack,
    new_event,
)
from suishin.devstack.embedded import free_port
from suishin.notifications.domain.directory import Directory
from suishin.notifications.smtp_sink import MailSink, start_sink

TENANT = "itabashi"


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[int, MailSink]]:
    """A real aiosmtpd server on a free port, capturing every message."""
    port = free_port()
    controller, sink = start_sink(None, port=port)
    try:
        yield port, sink
    finally:
        controller.stop()


def directory_data(tenant: str = TENANT, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "tenant": tenant,
        "name": "テスト区",
        "departments": [
            {"code": "it", "name": "IT推進課", "bu": "政策経営部"},
            {"code": "koseki", "name": "戸籍住民課", "bu": "区民文化部", "aliases": ["戸籍"]},
        ],
        "bodies": [{"code": "DX推進本部", "name": "DX推進本部"}],
        "posts": [
            {"code": "CIO", "name": "情報統括責任者（CIO）"},
            {"code": "事務局", "name": "事務局"},
            {"code": "課長", "name": "課長"},
        ],
        "people": [
            {
                "id": f"cio@{tenant}",
                "name": "CIO 副区長",
                "email": f"cio@{tenant}.example.jp",
                "assignments": [{"post": "CIO"}, {"body": "DX推進本部", "title": "本部員"}],
            },
            {
                "id": f"jimukyoku@{tenant}",
                "name": "事務局 担当",
                "email": f"jimukyoku@{tenant}.example.jp",
                "assignments": [{"department": "it", "post": "事務局"}],
            },
            {
                "id": f"reporter@{tenant}",
                "name": "戸籍住民課 担当",
                "email": f"reporter@{tenant}.example.jp",
                "assignments": [{"department": "koseki", "valid_from": "2025-04-01"}],
            },
            {
                "id": f"former@{tenant}",
                "name": "異動済み 職員",
                "email": f"former@{tenant}.example.jp",
                "assignments": [{"department": "koseki", "valid_to": "2025-03-31"}],
            },
            {
                "id": f"honbu@{tenant}",
                "name": "本部員 部長",
                "email": f"honbu@{tenant}.example.jp",
                "assignments": [{"body": "DX推進本部", "title": "本部員"}],
            },
        ],
        "rules": [
            {
                "name": "off track to owners and secretariat",
                "kinds": ["indicator_off_track"],
                "targets": [{"department": "$owner"}, {"post": "事務局"}],
                "escalate": True,
            },
            {
                "name": "report overdue to owners",
                "kinds": ["report_overdue"],
                "targets": [{"department": "$owner"}],
                "escalate": True,
            },
            {
                "name": "failing measures to the headquarters and CIO",
                "kinds": ["measure_failing"],
                "targets": [{"body": "DX推進本部"}, {"post": "CIO"}],
            },
            {
                "name": "submitted reports to the secretariat",
                "kinds": ["report_submitted", "schedule_slipped"],
                "targets": [{"post": "事務局"}],
            },
            {
                "name": "report steps to the owners",
                "kinds": ["report_returned", "report_accepted", "report_published"],
                "targets": [{"department": "$owner"}],
            },
            {
                "name": "reminders to the owners",
                "kinds": ["report_due_soon"],
                "targets": [{"department": "$owner"}],
            },
            {
                "name": "approved reports to owners and secretariat",
                "kinds": ["report_approved"],
                "targets": [{"department": "$owner"}, {"post": "事務局"}],
            },
            {
                "name": "milestones to the secretariat and owners",
                "kinds": ["milestone_due"],
                "targets": [{"post": "事務局"}, {"department": "$owner"}],
            },
        ],
    }
    data.update(extra)
    return data


def make_directory(tenant: str = TENANT, **extra: Any) -> Directory:
    return Directory.model_validate(directory_data(tenant, **extra))


def indicator_event(
    *,
    tenant: str = TENANT,
    to: IndicatorStatus = IndicatorStatus.OFF_TRACK,
    before: IndicatorStatus | None = IndicatorStatus.ON_TRACK,
    departments: tuple[str, ...] = ("戸籍住民課",),
    indicator_id: UUID | None = None,
    period: str = "FY2025",
    title: str = "マイナンバーカード交付枚数",
) -> Envelope[IndicatorStatusChanged]:
    ident = indicator_id or uuid4()
    return new_event(
        IndicatorStatusChanged(
            indicator_id=ident,
            indicator_key="mynumber-cards",
            title=title,
            period=period,
            fiscal_year=int(period[2:6]),
            from_status=before,
            to_status=to,
            figures=Figures(
                actual=Decimal("87095"), target=Decimal("119052"), comparator="gte", unit="枚"
            ),
            rule="cumulative_prorated",
            reason="累計実績が年度目標の按分値を下回っています",
            department_codes=list(departments),
        ),
        tenant=tenant,
        aggregate_id=str(ident),
        producer="test",
    )


def measure_evaluated_event(
    *,
    tenant: str = TENANT,
    failing: bool = True,
    years: int = 1,
    measure_id: UUID | None = None,
    fiscal_year: int = 2025,
    level_label: str | None = None,
) -> Envelope[MeasureEvaluated]:
    measure = measure_id or uuid4()
    return new_event(
        MeasureEvaluated(
            measure_id=measure,
            plan_id=uuid4(),
            code="施策3",
            title="行政手続きのオンライン化",
            level_label=level_label,
            fiscal_year=fiscal_year,
            grade="not_achieved" if failing else "achieved",
            grade_label="未達成" if failing else "達成",
            machine_grade="not_achieved" if failing else "achieved",
            previous_grade=None,
            is_failing=failing,
            consecutive_failing_years=years,
            department_codes=["IT推進課"],
        ),
        tenant=tenant,
        aggregate_id=str(measure),
        producer="test",
    )


PLAN = UUID("00000000-0000-4000-8000-00000000a001")

_REPORT_STEPS: dict[str, tuple[type[Payload], ProgressReportState | None, ProgressReportState]] = {
    "submitted": (
        ProgressReportSubmitted,
        ProgressReportState.DRAFT,
        ProgressReportState.SUBMITTED,
    ),
    "returned": (
        ProgressReportReturned,
        ProgressReportState.SUBMITTED,
        ProgressReportState.RETURNED,
    ),
    "accepted": (
        ProgressReportAccepted,
        ProgressReportState.SUBMITTED,
        ProgressReportState.ACCEPTED,
    ),
    "approved": (
        ProgressReportApproved,
        ProgressReportState.ACCEPTED,
        ProgressReportState.APPROVED,
    ),
    "published": (
        ProgressReportPublished,
        ProgressReportState.APPROVED,
        ProgressReportState.PUBLISHED,
    ),
}


def report_event(
    step: str,
    *,
    measure_id: UUID,
    tenant: str = TENANT,
    period: str = "FY2025",
    departments: tuple[str, ...] = ("戸籍住民課",),
    level_label: str = "取組",
    **extra: Any,
) -> Envelope[Any]:
    """A progress-report event for ``measure_id`` and ``period``: a workflow step (submitted,
    returned, accepted, approved, published), ``slipped``, ``due_soon`` or ``overdue``."""
    common: dict[str, Any] = {
        "measure_id": measure_id,
        "plan_id": PLAN,
        "code": "取組10",
        "title": "窓口のキャッシュレス化",
        "level_label": level_label,
        "period": period,
        "fiscal_year": int(period[2:6]),
        "department_codes": list(departments),
    }
    payload: Payload
    if step in _REPORT_STEPS:
        model, before, after = _REPORT_STEPS[step]
        payload = model(
            **common,
            report_id=UUID(int=measure_id.int ^ 1),
            report_version=1,
            from_state=before,
            to_state=after,
            actor=extra.pop("actor", f"reporter@{tenant}"),
            **extra,
        )
    elif step == "slipped":
        payload = ScheduleSlipped(
            **common,
            report_id=UUID(int=measure_id.int ^ 1),
            report_version=1,
            reported_by=f"reporter@{tenant}",
            tracks=[
                SlippedTrack(track="構築", planned="構築", adherence=ScheduleAdherence.DELAYED),
                SlippedTrack(
                    track="運用",
                    planned="運用",
                    adherence=ScheduleAdherence.NOT_STARTED,
                    note="事業者選定の遅れ",
                ),
            ],
        )
    elif step == "due_soon":
        payload = ProgressReportDueSoon(**common, due_on=date(2026, 5, 29), days_left=7)
    elif step == "overdue":
        payload = ProgressReportOverdue(**common, due_on=date(2026, 5, 29), days_overdue=1)
    else:
        raise ValueError(step)
    return new_event(payload, tenant=tenant, aggregate_id=f"{measure_id}:{period}", producer="test")


def milestone_event(
    *, tenant: str = TENANT, departments: tuple[str, ...] = (), days_left: int = 30
) -> Envelope[PlanMilestoneDue]:
    return new_event(
        PlanMilestoneDue(
            plan_id=PLAN,
            plan_title="板橋区DX推進計画",
            milestone_key="mid-term-review",
            title="中間見直し",
            due_on=date(2026, 3, 31),
            days_left=days_left,
            department_codes=list(departments),
        ),
        tenant=tenant,
        aggregate_id=f"{PLAN}:mid-term-review",
        producer="test",
    )


@pytest.fixture(scope="session")
def ev() -> SimpleNamespace:
    """Builders for directories and events (fixtures, because test modules are not importable)."""
    return SimpleNamespace(
        tenant=TENANT,
        directory=make_directory,
        directory_data=directory_data,
        indicator=indicator_event,
        measure_evaluated=measure_evaluated_event,
        report=report_event,
        milestone=milestone_event,
    )
