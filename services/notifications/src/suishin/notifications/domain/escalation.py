"""Escalation of unacknowledged alerts: after N business days the next level of the tenant's
chain (by default 所管課 → 事務局 → CIO) is told, then the next, until someone acknowledges.
The top level is told with a critical notice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from suishin.contracts.enums import Severity
from suishin.notifications.domain.directory import Target
from suishin.notifications.domain.shaping import JST, BusinessCalendar
from suishin.notifications.domain.triggers import ESCALATION, Signal


@dataclass(frozen=True)
class Step:
    """One escalation of an alert: the level reached, whom it targets, the signal and template
    context of its notices, and when the next level is due (None at the top)."""

    level: int
    target: Target
    top: bool
    severity: Severity
    signal: Signal
    context: dict[str, Any]
    next_at: datetime | None


def next_level(alert: Mapping[str, Any], chain: Sequence[Target]) -> int | None:
    """The level the alert escalates to; None when the chain is exhausted."""
    level: int = alert["escalation_level"] + 1
    return level if level <= len(chain) else None


def step(
    alert: Mapping[str, Any],
    level: int,
    chain: Sequence[Target],
    first_notice: Mapping[str, Any] | None,
    now: datetime,
    calendar: BusinessCalendar,
    business_days: int,
) -> Step:
    """The escalation of ``alert`` to ``level`` of ``chain`` at ``now``; ``first_notice`` is the
    alert's first notification (its title and body are quoted)."""
    top = level == len(chain)
    severity = Severity.CRITICAL if top else Severity.WARNING
    context = {
        "severity": severity.value,
        "level": level,
        "business_days": business_days,
        "alert": {
            "title": first_notice["title"] if first_notice else alert["alert_key"],
            "body": first_notice["body"] if first_notice else "",
            "opened_at": alert["opened_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M"),
            "kind": alert["kind"],
        },
        "f": alert["facts"],
    }
    signal = Signal(
        tenant=alert["tenant"],
        event_type="escalation",
        kind=ESCALATION,
        severity=severity,
        subject=alert["subject"],
        period=alert["period"],
        department_codes=tuple(alert["department_codes"]),
        plan_ids=tuple(alert["plan_ids"]),
        facts=alert["facts"],
        source_event_id=None,
        occurred_at=now,
    )
    return Step(
        level=level,
        target=chain[level - 1],
        top=top,
        severity=severity,
        signal=signal,
        context=context,
        next_at=None if top else calendar.add_business_days(now, business_days),
    )
