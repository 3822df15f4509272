"""Pure translation of domain events into signals: what happened, how serious, about what.

A signal is routed (routing.py) and shaped (shaping.py) into notifications. Alerts (off track,
report overdue, failing grade) open an episode that deduplicates repeats, escalates while nobody
acknowledges it, and ends with a "recovered" notice to whoever was alerted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from suishin.contracts.enums import IndicatorStatus, Severity
from suishin.contracts.events import (
    Envelope,
    IndicatorStatusChanged,
    MeasureEvaluated,
    MeasureStatusChanged,
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
    ESCALATION,
)

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

    @property
    def is_alert(self) -> bool:
        return self.kind in ALERT_KINDS

    @property
    def alert_key(self) -> str:
        return f"{self.kind}|{self.subject}|{self.period or ''}"


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


def from_measure_evaluation(event: Envelope[MeasureEvaluated]) -> Signal:
    p = event.payload
    if p.is_failing:
        kind = MEASURE_FAILING
        severity = Severity.CRITICAL if p.consecutive_failing_years >= 2 else Severity.WARNING
        resolves: tuple[str, ...] = ()
    else:
        kind, severity, resolves = MEASURE_EVALUATED, Severity.INFO, (MEASURE_FAILING,)
    facts = _json(
        {
            "measure_id": p.measure_id,
            "plan_id": p.plan_id,
            "code": p.code,
            "title": p.title,
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
    return Signal(
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
        resolves=resolves,
    )
