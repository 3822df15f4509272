"""Pure routing: which rules, subscriptions and silences apply to a signal.

Department codes in events are matched against the directory by code, name or alias, so an
event may say ``IT推進課`` or the directory's code for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from suishin.contracts.enums import Severity
from suishin.notifications.domain.directory import Target
from suishin.notifications.domain.shaping import severity_at_least
from suishin.notifications.domain.triggers import Signal


@dataclass(frozen=True)
class RuleView:
    id: UUID
    name: str
    event_types: tuple[str, ...]
    kinds: tuple[str, ...]
    plan_ids: tuple[UUID, ...]
    department_codes: tuple[str, ...]
    min_severity: Severity
    targets: tuple[Target, ...]
    webhook_ids: tuple[str, ...]
    escalate: bool
    enabled: bool = True


@dataclass(frozen=True)
class SubscriptionView:
    id: UUID
    person_id: str
    event_types: tuple[str, ...]
    plan_id: UUID | None
    department_code: str | None
    min_severity: Severity


@dataclass(frozen=True)
class SilenceView:
    id: UUID
    kinds: tuple[str, ...]
    subject: str | None
    department_code: str | None
    recipient_id: str | None
    starts_at: datetime
    expires_at: datetime


class DepartmentIndex:
    """Maps any spelling of a department (code, name, alias) to its directory code."""

    def __init__(self, entries: Iterable[tuple[str, str, Sequence[str]]]) -> None:
        self._by_name: dict[str, str] = {}
        for code, name, aliases in entries:
            for spelling in (code, name, *aliases):
                self._by_name.setdefault(_norm(spelling), code)

    def resolve(self, spellings: Iterable[str]) -> tuple[list[str], list[str]]:
        """(directory codes, spellings that match nothing)."""
        known: list[str] = []
        unknown: list[str] = []
        for s in spellings:
            code = self._by_name.get(_norm(s))
            if code is None:
                unknown.append(s)
            elif code not in known:
                known.append(code)
        return known, unknown


def _norm(value: str) -> str:
    return "".join(value.split()).casefold()


def rule_matches(rule: RuleView, signal: Signal, departments: Sequence[str]) -> bool:
    if not rule.enabled:
        return False
    if rule.event_types and signal.event_type not in rule.event_types:
        return False
    if rule.kinds and signal.kind not in rule.kinds:
        return False
    if rule.plan_ids and not set(rule.plan_ids).intersection(signal.plan_ids):
        return False
    if rule.department_codes and not set(rule.department_codes).intersection(departments):
        return False
    return severity_at_least(signal.severity, rule.min_severity)


def matching_rules(
    rules: Iterable[RuleView], signal: Signal, departments: Sequence[str]
) -> list[RuleView]:
    return [r for r in rules if rule_matches(r, signal, departments)]


def subscription_matches(sub: SubscriptionView, signal: Signal, departments: Sequence[str]) -> bool:
    if sub.event_types and signal.event_type not in sub.event_types:
        return False
    if sub.plan_id is not None and sub.plan_id not in signal.plan_ids:
        return False
    if sub.department_code is not None and sub.department_code not in departments:
        return False
    return severity_at_least(signal.severity, sub.min_severity)


def silence_applies(
    silence: SilenceView,
    signal: Signal,
    departments: Sequence[str],
    recipient_id: str,
    now: datetime,
) -> bool:
    """Critical alerts cannot be silenced; anything else matching an active silence is."""
    if signal.severity is Severity.CRITICAL:
        return False
    if not (silence.starts_at <= now < silence.expires_at):
        return False
    if silence.kinds and signal.kind not in silence.kinds:
        return False
    if silence.subject is not None and silence.subject != signal.subject:
        return False
    if silence.department_code is not None and silence.department_code not in departments:
        return False
    return silence.recipient_id is None or silence.recipient_id == recipient_id


def muted(muted_kinds: Sequence[str], signal: Signal) -> bool:
    """A person's own mute; never for critical alerts."""
    return signal.severity is not Severity.CRITICAL and signal.kind in muted_kinds
