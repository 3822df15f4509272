"""Pure translation of domain events into signals: what happened, how serious, about what.

A signal is routed (routing.py) and shaped (shaping.py) into notifications. Alerts (off track,
report overdue, failing grade) open an episode that deduplicates repeats, escalates while nobody
acknowledges it, and ends with a "recovered" notice to whoever was alerted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from suishin.contracts.enums import IndicatorStatus, Severity
from suishin.contracts.events import (
    Envelope,
    IndicatorStatusChanged,
    MeasureEvaluated,
    MeasureStatusChanged,
    PlanMilestoneDue,
    ProgressReportApproved,
    ProgressReportDueSoon,
    ProgressReportEvent,
    ProgressReportOverdue,
    ProgressReportTransitioned,
    ScheduleSlipped,
)

# Kinds of notices. Stable: they appear in GraphQL, rules, silences and templates.
INDICATOR_OFF_TRACK = "indicator_off_track"
INDICATOR_AT_RISK = "indicator_at_risk"
INDICATOR_RECOVERED = "indicator_recovered"
INDICATOR_STATUS_CHANGED = "indicator_status_changed"
REPORT_OVERDUE = "report_overdue"
MEASURE_STATUS_CHANGED = "measure_status_changed"
MEASURE_FAILING = "measure_failing"
MEASURE_EVALUATED = "measure_evaluated"
MEASURE_RECOVERED = "measure_recovered"
REPORT_SUBMITTED = "report_submitted"
REPORT_RETURNED = "report_returned"
REPORT_ACCEPTED = "report_accepted"
REPORT_APPROVED = "report_approved"
REPORT_PUBLISHED = "report_published"
REPORT_DUE_SOON = "report_due_soon"
REPORT_RECOVERED = "report_recovered"
SCHEDULE_SLIPPED = "schedule_slipped"
MILESTONE_DUE = "milestone_due"
ESCALATION = "escalation"
DIGEST = "digest"

ALERT_KINDS = frozenset({INDICATOR_OFF_TRACK, REPORT_OVERDUE, MEASURE_FAILING})
KINDS = (
    INDICATOR_OFF_TRACK,
    INDICATOR_AT_RISK,
    INDICATOR_RECOVERED,
    INDICATOR_STATUS_CHANGED,
    REPORT_OVERDUE,
    MEASURE_STATUS_CHANGED,
    MEASURE_FAILING,
    MEASURE_EVALUATED,
    MEASURE_RECOVERED,
    REPORT_SUBMITTED,
    REPORT_RETURNED,
    REPORT_ACCEPTED,
    REPORT_APPROVED,
    REPORT_PUBLISHED,
    REPORT_DUE_SOON,
    REPORT_RECOVERED,
    SCHEDULE_SLIPPED,
    MILESTONE_DUE,
    ESCALATION,
)

EVENT_TYPES = (
    "indicator.status_changed",
    "measure.status_changed",
    "measure.evaluated",
    "progress_report.submitted",
    "progress_report.returned",
    "progress_report.accepted",
    "progress_report.approved",
    "progress_report.published",
    "progress_report.schedule_slipped",
    "progress_report.due_soon",
    "progress_report.overdue",
    "plan.milestone_due",
)
"""The event types the service consumes (what rules and subscriptions may name)."""

# progress_report.<step> → the kind and severity of its notice
_TRANSITIONS: dict[str, tuple[str, Severity]] = {
    "progress_report.submitted": (REPORT_SUBMITTED, Severity.INFO),
    "progress_report.returned": (REPORT_RETURNED, Severity.WARNING),
    "progress_report.accepted": (REPORT_ACCEPTED, Severity.INFO),
    "progress_report.approved": (REPORT_APPROVED, Severity.INFO),
    "progress_report.published": (REPORT_PUBLISHED, Severity.INFO),
}

_GOOD = {IndicatorStatus.ACHIEVED, IndicatorStatus.ON_TRACK}
_BAD = {IndicatorStatus.OFF_TRACK, IndicatorStatus.AT_RISK}


@dataclass(frozen=True)
class Signal:
    tenant: str
    event_type: str
    kind: str
    severity: Severity
    subject: str = field(metadata={"doc": "Entity reference, e.g. Indicator:<uuid>."})
    period: str | None
    department_codes: tuple[str, ...]
    plan_ids: tuple[UUID, ...]
    facts: dict[str, Any]
    source_event_id: UUID | None
    occurred_at: datetime
    resolves: tuple[str, ...] = ()
    announce_recovery: bool = False
    resolves_earlier_periods: bool = field(
        default=False,
        metadata={"doc": "Also end alerts of earlier fiscal years (a measure graded again)."},
    )
    settles: tuple[str, ...] = field(
        default=(),
        metadata={"doc": "Alert kinds this signal settles for good on its subject and period."},
    )
    settleable: bool = field(
        default=False,
        metadata={"doc": "An alert that opens nothing when its key was settled before."},
    )
    quiet_without_alert: bool = field(
        default=False,
        metadata={
            "doc": "A recovery beside the event's own notice: it reaches only those who got "
            "the alert (not subscribers, who get the event's notice), and finding no open "
            "alert is not worth recording."
        },
    )

    @property
    def is_alert(self) -> bool:
        return self.kind in ALERT_KINDS

    @property
    def alert_key(self) -> str:
        return f"{self.kind}|{self.subject}|{self.period or ''}"

    def key_of(self, kind: str) -> str:
        """The alert key of ``kind`` on this signal's subject and period."""
        return f"{kind}|{self.subject}|{self.period or ''}"


def _json(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, UUID | datetime):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def from_indicator(event: Envelope[IndicatorStatusChanged]) -> Signal:
    p = event.payload
    to, before = p.to_status, p.from_status
    resolves: tuple[str, ...] = ()
    recovery = False
    if to is IndicatorStatus.OFF_TRACK:
        kind, severity = INDICATOR_OFF_TRACK, Severity.WARNING
        resolves = (REPORT_OVERDUE,)  # a report came in, so it is no longer overdue
    elif to is IndicatorStatus.STALE:
        kind, severity = REPORT_OVERDUE, Severity.WARNING
    elif to in _GOOD and before in _BAD:
        kind, severity = INDICATOR_RECOVERED, Severity.INFO
        resolves, recovery = (INDICATOR_OFF_TRACK, REPORT_OVERDUE), True
    elif to is IndicatorStatus.AT_RISK:
        kind, severity = INDICATOR_AT_RISK, Severity.INFO
        resolves = (REPORT_OVERDUE,)
    else:
        kind, severity = INDICATOR_STATUS_CHANGED, Severity.INFO
        if before is IndicatorStatus.STALE:
            resolves = (REPORT_OVERDUE,)
    facts = _json(
        {
            "indicator_id": p.indicator_id,
            "indicator_key": p.indicator_key,
            "title": p.title,
            "period": p.period,
            "fiscal_year": p.fiscal_year,
            "from_status": before.value if before else None,
            "to_status": to.value,
            "figures": p.figures.model_dump(),
            "reason": p.reason,
            "rule": p.rule,
            "departments": list(p.department_codes),
        }
    )
    return Signal(
        tenant=event.tenant,
        event_type=event.event_type,
        kind=kind,
        severity=severity,
        subject=f"Indicator:{p.indicator_id}",
        period=p.period,
        department_codes=tuple(p.department_codes),
        plan_ids=tuple(p.plan_ids),
        facts=facts,
        source_event_id=event.event_id,
        occurred_at=event.occurred_at,
        resolves=resolves,
        announce_recovery=recovery,
    )


def from_measure_status(event: Envelope[MeasureStatusChanged]) -> Signal:
    p = event.payload
    facts = _json(
        {
            "measure_id": p.measure_id,
            "plan_id": p.plan_id,
            "code": p.code,
            "title": p.title,
            "level_label": p.level_label,
            "from_status": p.from_status.value if p.from_status else None,
            "to_status": p.to_status.value,
            "changed_by": p.changed_by,
            "reason": p.reason,
            "departments": list(p.department_codes),
        }
    )
    return Signal(
        tenant=event.tenant,
        event_type=event.event_type,
        kind=MEASURE_STATUS_CHANGED,
        severity=Severity.INFO,
        subject=f"Measure:{p.measure_id}",
        period=None,
        department_codes=tuple(p.department_codes),
        plan_ids=(p.plan_id,),
        facts=facts,
        source_event_id=event.event_id,
        occurred_at=event.occurred_at,
    )


def from_measure_evaluation(event: Envelope[MeasureEvaluated]) -> list[Signal]:
    """A failing grade opens a ``measure_failing`` alert; a passing one is a
    ``measure_evaluated`` notice and, when a failing alert of the measure is open (this year or
    an earlier one), a ``measure_recovered`` notice to everyone who received that alert,
    escalated ones included."""
    p = event.payload
    if p.is_failing:
        kind = MEASURE_FAILING
        severity = Severity.CRITICAL if p.consecutive_failing_years >= 2 else Severity.WARNING
    else:
        kind, severity = MEASURE_EVALUATED, Severity.INFO
    facts = _json(
        {
            "measure_id": p.measure_id,
            "plan_id": p.plan_id,
            "code": p.code,
            "title": p.title,
            "level_label": p.level_label,
            "fiscal_year": p.fiscal_year,
            "grade": p.grade,
            "grade_label": p.grade_label,
            "machine_grade": p.machine_grade,
            "previous_grade": p.previous_grade,
            "is_override": p.is_override,
            "consecutive_failing_years": p.consecutive_failing_years,
            "reason": p.reason,
            "departments": list(p.department_codes),
        }
    )
    signal = Signal(
        tenant=event.tenant,
        event_type=event.event_type,
        kind=kind,
        severity=severity,
        subject=f"Measure:{p.measure_id}",
        period=f"FY{p.fiscal_year}",
        department_codes=tuple(p.department_codes),
        plan_ids=(p.plan_id,),
        facts=facts,
        source_event_id=event.event_id,
        occurred_at=event.occurred_at,
    )
    if p.is_failing:
        return [signal]
    recovery = replace(
        signal,
        kind=MEASURE_RECOVERED,
        resolves=(MEASURE_FAILING,),
        announce_recovery=True,
        resolves_earlier_periods=True,
        quiet_without_alert=True,
    )
    return [recovery, signal]


def _report_facts(p: ProgressReportEvent, **more: Any) -> dict[str, Any]:
    facts: dict[str, Any] = _json(
        {
            "measure_id": p.measure_id,
            "plan_id": p.plan_id,
            "code": p.code,
            "title": p.title,
            "level_label": p.level_label,
            "period": p.period,
            "fiscal_year": p.fiscal_year,
            "interim": p.period.endswith("-H1"),
            "departments": list(p.department_codes),
            **more,
        }
    )
    return facts


def from_progress_report(event: Envelope[ProgressReportEvent]) -> list[Signal]:
    """The progress-report workflow (one topic, several event types, dispatched by type).

    Steps notify the posts concerned (the rules decide who); ``due_soon`` is a reminder;
    ``overdue`` opens one ``report_overdue`` alert per measure and period (escalating), and a
    ``submitted`` report resolves it (a ``report_recovered`` notice to everyone who received
    the alert) and settles it: an ``overdue`` that arrives later opens nothing."""
    p = event.payload
    subject = f"Measure:{p.measure_id}"
    base: dict[str, Any] = {
        "tenant": event.tenant,
        "event_type": event.event_type,
        "subject": subject,
        "period": p.period,
        "department_codes": tuple(p.department_codes),
        "plan_ids": (p.plan_id,),
        "source_event_id": event.event_id,
        "occurred_at": event.occurred_at,
    }
    if isinstance(p, ProgressReportTransitioned):
        kind, severity = _TRANSITIONS[event.event_type]
        more: dict[str, Any] = {
            "report_id": p.report_id,
            "report_version": p.report_version,
            "from_state": p.from_state.value if p.from_state else None,
            "to_state": p.to_state.value,
            "actor": p.actor,
            "comment": p.comment,
            "grade": p.grade,
            "grade_label": p.grade_label,
            "is_grade_override": False,
            "self_assessed_grade": None,
        }
        if isinstance(p, ProgressReportApproved):
            more["is_grade_override"] = p.is_grade_override
            more["self_assessed_grade"] = p.self_assessed_grade
        facts = _report_facts(p, **more)
        signal = Signal(kind=kind, severity=severity, facts=facts, **base)
        if kind != REPORT_SUBMITTED:
            return [signal]
        recovery = Signal(
            kind=REPORT_RECOVERED,
            severity=Severity.INFO,
            facts=facts,
            resolves=(REPORT_OVERDUE,),
            announce_recovery=True,
            settles=(REPORT_OVERDUE,),
            quiet_without_alert=True,
            **base,
        )
        return [recovery, signal]
    if isinstance(p, ScheduleSlipped):
        facts = _report_facts(
            p,
            report_id=p.report_id,
            report_version=p.report_version,
            reported_by=p.reported_by,
            tracks=[t.model_dump(mode="json") for t in p.tracks],
        )
        return [Signal(kind=SCHEDULE_SLIPPED, severity=Severity.WARNING, facts=facts, **base)]
    if isinstance(p, ProgressReportDueSoon):
        facts = _report_facts(p, due_on=p.due_on.isoformat(), days_left=p.days_left)
        return [Signal(kind=REPORT_DUE_SOON, severity=Severity.INFO, facts=facts, **base)]
    if isinstance(p, ProgressReportOverdue):
        facts = _report_facts(
            p,
            due_on=p.due_on.isoformat(),
            days_overdue=p.days_overdue,
            reason=None,
        )
        return [
            Signal(
                kind=REPORT_OVERDUE,
                severity=Severity.WARNING,
                facts=facts,
                settleable=True,
                **base,
            )
        ]
    raise ValueError(f"not a progress-report event: {event.event_type}")


def from_milestone(event: Envelope[PlanMilestoneDue]) -> list[Signal]:
    """A dated milestone the plan prints is near or due: the plan's 事務局 (and the node's
    departments, when the event names them), by the rules of ``milestone_due``."""
    p = event.payload
    facts = _json(
        {
            "plan_id": p.plan_id,
            "plan_title": p.plan_title,
            "milestone_key": p.milestone_key,
            "title": p.title,
            "due_on": p.due_on.isoformat(),
            "days_left": p.days_left,
            "node_id": p.node_id,
            "code": p.code,
            "level_label": p.level_label,
            "departments": list(p.department_codes),
        }
    )
    return [
        Signal(
            tenant=event.tenant,
            event_type=event.event_type,
            kind=MILESTONE_DUE,
            severity=Severity.INFO,
            subject=f"Plan:{p.plan_id}",
            period=None,
            department_codes=tuple(p.department_codes),
            plan_ids=(p.plan_id,),
            facts=facts,
            source_event_id=event.event_id,
            occurred_at=event.occurred_at,
        )
    ]
