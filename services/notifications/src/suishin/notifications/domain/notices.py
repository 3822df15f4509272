"""From signals to notifications and scheduled deliveries, decided in memory.

Order of decisions for each signal: resolve alerts the signal ends (and announce recovery to
whoever was alerted); deduplicate an alert that is already open; match rules and subscriptions;
resolve targets to people valid today; drop what a silence or a person's mute covers (never
critical); store one notification per recipient (unique dedup key), put it in the inbox at once
and announce it, and schedule e-mail/webhook deliveries through quiet hours, grouping and
digests. Anything that ends without a notification is recorded in ``routing_outcomes`` and
logged.

A consumer batch is decided in memory (:class:`Batch`) against the snapshots of its tenants
(:class:`~suishin.notifications.domain.recipients.TenantSnapshot`) and the open alerts of its
subjects; :func:`suishin.notifications.commands.apply_signals` loads those with one query per
table and writes what the batch collected with one statement per table (alerts, routing
outcomes, notifications, deliveries, outbox), so the number of statements does not grow with
the number of events. Signals are still decided
one after the other, in event order, against the batch's view of the alerts: an alert opened by
one event deduplicates a later one and is resolved by a later recovery, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from suishin.contracts.enums import Severity
from suishin.notifications.domain.recipients import Person, TenantSnapshot, WebhookTarget
from suishin.notifications.domain.routing import (
    matching_rules,
    muted,
    silence_applies,
    subscription_matches,
)
from suishin.notifications.domain.shaping import (
    JST,
    SEVERITY_RANK,
    BusinessCalendar,
    Cadence,
    QuietHours,
    dedup_key,
    next_digest_slot,
    next_send_time,
)
from suishin.notifications.domain.triggers import ESCALATION, Signal

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What applying one signal did (for logs and tests)."""

    notifications: list[UUID] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recipient:
    person: Person | None = None
    webhook: WebhookTarget | None = None
    rule_id: UUID | None = None

    @property
    def id(self) -> str:
        if self.person is not None:
            return self.person.id
        assert self.webhook is not None
        return self.webhook.recipient_id

    @property
    def language(self) -> str:
        return self.person.language if self.person is not None else "ja"


# --- the batch: decided in memory, written set-based ----------------------------------------


@dataclass(eq=False)
class Alert:
    """An alert as the batch sees it: loaded (open, locked) or opened by an earlier signal."""

    id: UUID
    tenant: str
    alert_key: str
    kind: str
    subject: str
    period: str | None
    severity: Severity
    state: str
    escalate_at: datetime | None
    resolved_at: datetime | None = None
    new: dict[str, Any] | None = None  # the other columns of an alert opened in this batch
    changed: bool = False


@dataclass(eq=False)
class Planned:
    """A notification to insert, with its deliveries and whether the inbox announces it."""

    row: dict[str, Any]
    deliveries: list[tuple[Any, ...]]
    announce: bool
    outcome: Outcome | None
    inserted: bool = False


class Batch:
    """A batch's view of the alerts of its subjects, and what it writes, collected while
    deciding (written by :mod:`suishin.notifications.commands` with one statement per table,
    in the caller's transaction)."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.open: dict[tuple[str, str], Alert] = {}  # (tenant, alert_key) → open alert
        self.by_subject: dict[tuple[str, str], list[Alert]] = {}
        self.alerts: list[Alert] = []  # every alert loaded or opened, in order
        self.told: dict[UUID, set[str]] = {}  # alert → recipients of its notifications
        self.outcomes: list[tuple[Any, ...]] = []
        self.planned: list[Planned] = []
        self.keys: set[tuple[str, str, str]] = set()
        self.settled: set[tuple[str, str]] = set()  # (tenant, alert_key) settled for good
        self.newly_settled: list[tuple[str, str, UUID | None]] = []

    def add_alert(self, alert: Alert) -> None:
        self.alerts.append(alert)
        self.by_subject.setdefault((alert.tenant, alert.subject), []).append(alert)
        if alert.state != "resolved":
            self.open[(alert.tenant, alert.alert_key)] = alert

    @staticmethod
    def subjects(signals: Iterable[Signal]) -> list[tuple[str, str]]:
        """The (tenant, subject) pairs whose open alerts the batch needs."""
        return sorted({(s.tenant, s.subject) for s in signals})

    def add_open(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """The open alerts of the batch's subjects, as loaded (and locked)."""
        for r in rows:
            self.add_alert(
                Alert(
                    id=r["id"],
                    tenant=r["tenant"],
                    alert_key=r["alert_key"],
                    kind=r["kind"],
                    subject=r["subject"],
                    period=r["period"],
                    severity=Severity(r["severity"]),
                    state=r["state"],
                    escalate_at=r["escalate_at"],
                )
            )

    @staticmethod
    def settleable(signals: Iterable[Signal]) -> list[tuple[str, str]]:
        """The (tenant, alert_key) pairs whose settlement the batch needs to know."""
        return sorted({(s.tenant, s.alert_key) for s in signals if s.settleable})

    def add_settled(self, keys: Iterable[tuple[str, str]]) -> None:
        self.settled.update(keys)

    def settle(self, signal: Signal) -> None:
        """Remember for good that ``signal`` settled its kinds on its subject and period."""
        for kind in signal.settles:
            key = (signal.tenant, signal.key_of(kind))
            if key not in self.settled:
                self.settled.add(key)
                self.newly_settled.append((*key, signal.source_event_id))

    def resolved_ids(self) -> list[UUID]:
        """The alerts the batch resolved (their pending e-mails are not sent any more)."""
        return [a.id for a in self.alerts if a.state == "resolved" and a.changed]

    def recoverable(self, signals: Iterable[Signal]) -> list[UUID]:
        """The alerts a recovery in the batch may end (whose recipients it needs to know)."""
        recovering = {(s.tenant, s.subject) for s in signals if s.announce_recovery}
        return [a.id for a in self.alerts if (a.tenant, a.subject) in recovering]

    def add_told(self, told: Iterable[tuple[UUID, str]]) -> None:
        """Who was told about which alert: (alert, recipient) pairs."""
        for alert_id, recipient_id in told:
            self.told.setdefault(alert_id, set()).add(recipient_id)

    def record(
        self,
        signal: Signal,
        what: str,
        rule_id: UUID | None,
        detail: str,
        outcome: Outcome,
    ) -> None:
        outcome.recorded.append(what)
        log_outcome(signal, what, detail)
        self.outcomes.append(
            (
                signal.tenant,
                signal.source_event_id,
                signal.event_type,
                what,
                rule_id,
                detail,
                self.now,
            )
        )

    def changed_alerts(self) -> list[tuple[Any, ...]]:
        """(id, severity, state, resolved_at, escalate_at) of loaded alerts the batch changed."""
        return [
            (a.id, a.severity.value, a.state, a.resolved_at, a.escalate_at)
            for a in self.alerts
            if a.changed and a.new is None
        ]

    def opened_alerts(self) -> list[tuple[Any, ...]]:
        """The alerts the batch opened, as rows to insert."""
        return [
            (
                a.id,
                a.tenant,
                a.alert_key,
                a.kind,
                a.subject,
                a.period,
                a.severity.value,
                a.state,
                a.new["escalate"],
                a.escalate_at,
                a.new["department_codes"],
                a.new["plan_ids"],
                a.new["facts"],
                a.new["source_event_id"],
                self.now,
                a.resolved_at,
            )
            for a in self.alerts
            if a.new is not None
        ]

    def notification_rows(self, columns: Sequence[str]) -> list[tuple[Any, ...]]:
        """The planned notifications, as rows of ``columns``."""
        return [tuple(p.row[name] for name in columns) for p in self.planned]

    def delivery_rows(self) -> list[tuple[Any, ...]]:
        """The deliveries of the planned notifications (stored with the ones stored)."""
        return [row for p in self.planned for row in p.deliveries]

    def inserted(self, ids: set[UUID]) -> list[dict[str, Any]]:
        """The planned notifications stored (``ids``; the others existed already): those the
        inbox announces."""
        announced: list[dict[str, Any]] = []
        for p in self.planned:
            n = p.row
            if n["id"] not in ids:
                log.info(
                    "duplicate notification skipped",
                    extra={
                        "tenant": n["tenant"],
                        "recipient": n["recipient_id"],
                        "dedup_key": n["dedup_key"],
                    },
                )
                continue
            p.inserted = True
            if p.outcome is not None:
                p.outcome.notifications.append(n["id"])
            if p.announce:
                announced.append(n)
        return announced


def _period_ends(alert_period: str | None, signal: Signal) -> bool:
    """Whether a signal of ``signal.period`` ends an alert of ``alert_period``: the same
    period, or (a measure graded again) an earlier fiscal year."""
    if (alert_period or "") == (signal.period or ""):
        return True
    if not (signal.resolves_earlier_periods and alert_period and signal.period):
        return False
    fiscal = alert_period.startswith("FY") and signal.period.startswith("FY")
    return fiscal and alert_period[2:6] < signal.period[2:6]


def log_outcome(signal: Signal, what: str, detail: str) -> None:
    level = logging.WARNING if what in ("no_recipients", "unknown_tenant") else logging.INFO
    log.log(
        level,
        f"routing: {what}",
        extra={
            "tenant": signal.tenant,
            "kind": signal.kind,
            "subject": signal.subject,
            "event_id": str(signal.source_event_id),
            "detail": detail,
        },
    )


NoticeText = Callable[
    [str, str, str, Mapping[str, Any], Mapping[str, Any]], tuple[str, str, str | None]
]
"""(tenant, kind, language, context, facts) → (title, body, render error or None): a notice's
text in the recipient's language (a plain fallback when its template fails)."""


@dataclass(frozen=True)
class Policy:
    """The service's settings that shape deliveries: the business calendar, quiet hours, the
    grouping window of e-mails and the business days before an alert escalates."""

    calendar: BusinessCalendar
    quiet: QuietHours
    grouping: timedelta
    escalation_business_days: int


class Router:
    """Decides, for each signal of a batch, who is told what and through which channels."""

    def __init__(self, policy: Policy, notice_text: NoticeText) -> None:
        self.policy = policy
        self.notice_text = notice_text

    # --- signals -------------------------------------------------------------------------

    def decide(self, batch: Batch, signal: Signal, snap: TenantSnapshot, now: datetime) -> Outcome:
        """Decide one signal: what it changes and what it sends, collected in ``batch``."""
        outcome = Outcome()
        departments, unknown = snap.departments.resolve(signal.department_codes)
        if not snap.known:
            batch.record(
                signal,
                "unknown_tenant",
                None,
                f"no directory imported for tenant {signal.tenant}",
                outcome,
            )
            return outcome
        if signal.settleable and (signal.tenant, signal.alert_key) in batch.settled:
            batch.record(
                signal,
                "already_settled",
                None,
                f"{signal.alert_key} was settled before this event arrived: nothing opens",
                outcome,
            )
            return outcome
        batch.settle(signal)
        if unknown:
            log.warning(
                "event names departments missing from the directory",
                extra={
                    "tenant": signal.tenant,
                    "departments": unknown,
                    "event_id": str(signal.source_event_id),
                },
            )

        recipients: dict[str, Recipient] = {}
        if signal.resolves:
            alerted = self._resolve_alerts(batch, signal, snap, outcome)
            if signal.announce_recovery:
                if not alerted and not signal.quiet_without_alert:
                    batch.record(
                        signal,
                        "no_open_alert",
                        None,
                        "recovery with no open alert: nobody to tell",
                        outcome,
                    )
                for recipient in alerted:
                    recipients.setdefault(recipient.id, recipient)

        alert_id: UUID | None = None
        escalate = False
        if not signal.announce_recovery:
            rules = matching_rules(snap.rules, signal, departments)
            escalate = any(r.escalate for r in rules)
            today = now.astimezone(JST).date()
            for rule in rules:
                found: list[Recipient] = []
                for target in rule.targets:
                    for person in snap.reached(target, departments, signal, today):
                        found.append(Recipient(person=person, rule_id=rule.id))
                for hook_id in rule.webhook_ids:
                    hook = snap.webhooks.get(hook_id)
                    if hook is not None and hook.enabled:
                        found.append(Recipient(webhook=hook, rule_id=rule.id))
                if not found:
                    described = "; ".join(t.describe() for t in rule.targets) or "(no targets)"
                    batch.record(
                        signal,
                        "no_recipients",
                        rule.id,
                        f"rule {rule.name!r} matched but its targets resolve to nobody today: "
                        f"{described} (departments: {', '.join(departments) or '-'}; "
                        f"unknown: {', '.join(unknown) or '-'})",
                        outcome,
                    )
                for recipient in found:
                    recipients.setdefault(recipient.id, recipient)
            if not rules:
                batch.record(
                    signal, "no_rule", None, f"no routing rule matches {signal.kind}", outcome
                )
        # a companion recovery (beside the event's own notice) reaches only those alerted
        subscribers = [
            s.person_id
            for s in snap.subscriptions
            if not signal.quiet_without_alert
            and subscription_matches(s, signal, departments)
            and s.person_id not in recipients
        ]
        for person in snap.people_by_id(subscribers):
            if person.active:
                recipients.setdefault(person.id, Recipient(person=person))

        if not recipients and signal.is_alert and escalate:
            # Nobody at the first level (the owning department has no one in the directory):
            # the alert is not dropped but due for escalation now, so the scheduler's next pass
            # tells the next level of the chain (the 事務局 by default).
            alert_id = self._open_alert(
                batch, signal, departments, escalate, outcome, escalate_now=True
            )
            if alert_id is not None:
                batch.record(
                    signal,
                    "escalated_unreached",
                    None,
                    f"alert {alert_id} reached nobody at its first level: escalated at once",
                    outcome,
                )
            return outcome
        if not recipients:
            if signal.is_alert or (signal.announce_recovery and not signal.quiet_without_alert):
                log.warning(
                    "signal reached nobody",
                    extra={
                        "tenant": signal.tenant,
                        "kind": signal.kind,
                        "subject": signal.subject,
                        "event_id": str(signal.source_event_id),
                    },
                )
            return outcome

        if signal.is_alert:
            alert_id = self._open_alert(batch, signal, departments, escalate, outcome)
            if alert_id is None:
                return outcome

        context = {
            "f": signal.facts,
            "severity": signal.severity.value,
            "year_style": snap.year_style,
        }
        rendered: dict[str, tuple[str, str, str | None]] = {}
        for recipient in recipients.values():
            if recipient.person is not None:
                silence = next(
                    (
                        s
                        for s in snap.silences
                        if silence_applies(s, signal, departments, recipient.id, now)
                    ),
                    None,
                )
                if silence is not None:
                    batch.record(
                        signal,
                        "silenced",
                        recipient.rule_id,
                        f"{recipient.id}: silenced by {silence.id}",
                        outcome,
                    )
                    continue
                if muted(recipient.person.muted_kinds, signal):
                    batch.record(
                        signal,
                        "muted",
                        recipient.rule_id,
                        f"{recipient.id} muted {signal.kind}",
                        outcome,
                    )
                    continue
            key = (
                dedup_key("alert", alert_id, 0, signal.severity.value)
                if alert_id is not None
                else dedup_key(signal.kind, signal.subject, signal.period, signal.source_event_id)
            )
            self.plan(
                batch,
                snap,
                recipient,
                kind=signal.kind,
                severity=signal.severity,
                context=context,
                facts=signal.facts,
                subject=signal.subject,
                period=signal.period,
                dedup=key,
                alert_id=alert_id,
                source_event_id=signal.source_event_id,
                outcome=outcome,
                rendered=rendered,
            )
        return outcome

    def _open_alert(
        self,
        batch: Batch,
        signal: Signal,
        departments: list[str],
        escalate: bool,
        outcome: Outcome,
        *,
        escalate_now: bool = False,
    ) -> UUID | None:
        """The alert this signal opens; None when the same alert is already open (dedup).
        ``escalate_now``: due for escalation at once (its first level reached nobody)."""
        existing = batch.open.get((signal.tenant, signal.alert_key))
        if existing is not None:
            if SEVERITY_RANK[existing.severity] >= SEVERITY_RANK[signal.severity]:
                batch.record(
                    signal,
                    "deduplicated",
                    None,
                    f"alert {existing.id} ({signal.alert_key}) is already open",
                    outcome,
                )
                return None
            existing.severity = signal.severity
            existing.changed = True
            return existing.id
        now = batch.now
        alert = Alert(
            id=uuid4(),
            tenant=signal.tenant,
            alert_key=signal.alert_key,
            kind=signal.kind,
            subject=signal.subject,
            period=signal.period,
            severity=signal.severity,
            state="open",
            escalate_at=(
                None
                if not escalate
                else now
                if escalate_now
                else self.policy.calendar.add_business_days(
                    now, self.policy.escalation_business_days
                )
            ),
            new={
                "escalate": escalate,
                "department_codes": departments,
                "plan_ids": list(signal.plan_ids),
                "facts": signal.facts,
                "source_event_id": signal.source_event_id,
            },
        )
        batch.add_alert(alert)
        return alert.id

    def _resolve_alerts(
        self, batch: Batch, signal: Signal, snap: TenantSnapshot, outcome: Outcome
    ) -> list[Recipient]:
        """Resolve open alerts of the kinds the signal ends; return who had been told."""
        resolved = [
            a
            for a in batch.by_subject.get((signal.tenant, signal.subject), [])
            if a.state != "resolved"
            and a.kind in signal.resolves
            and _period_ends(a.period, signal)
        ]
        if not resolved:
            return []
        for a in resolved:
            a.state = "resolved"
            a.resolved_at = batch.now
            a.escalate_at = None
            a.changed = True
            batch.open.pop((a.tenant, a.alert_key), None)
        batch.record(
            signal,
            "alert_resolved",
            None,
            "resolved " + ", ".join(f"{a.kind} {a.id}" for a in resolved),
            outcome,
        )
        if not signal.announce_recovery:
            return []
        told_ids: set[str] = set()
        for a in resolved:
            told_ids |= batch.told.get(a.id, set())
        recipients = [Recipient(person=p) for p in snap.people_by_id(told_ids) if p.active]
        for hook in sorted(snap.webhooks.values(), key=lambda h: h.id):
            if hook.recipient_id in told_ids and hook.enabled:
                recipients.append(Recipient(webhook=hook))
        return recipients

    # --- notifications -------------------------------------------------------------------

    def plan(
        self,
        batch: Batch,
        snap: TenantSnapshot,
        recipient: Recipient,
        *,
        kind: str,
        severity: Severity,
        context: dict[str, Any],
        facts: dict[str, Any],
        subject: str | None,
        period: str | None,
        dedup: str,
        alert_id: UUID | None,
        source_event_id: UUID | None,
        outcome: Outcome | None,
        rendered: dict[str, tuple[str, str, str | None]] | None = None,
    ) -> Planned | None:
        """One notification with its deliveries, to be written with the batch; None when
        the batch already holds one for the same recipient and dedup key."""
        now = batch.now
        unique = (snap.tenant, recipient.id, dedup)
        if unique in batch.keys:
            log.info(
                "duplicate notification skipped",
                extra={"tenant": snap.tenant, "recipient": recipient.id, "dedup_key": dedup},
            )
            return None
        batch.keys.add(unique)
        language = recipient.language
        done = rendered.get(language) if rendered is not None else None
        if done is None:
            done = self.notice_text(snap.tenant, kind, language, context, facts)
            if rendered is not None:
                rendered[language] = done
        title, body, render_error = done
        notification_id = uuid4()
        n: dict[str, Any] = {
            "id": notification_id,
            "tenant": snap.tenant,
            "recipient_id": recipient.id,
            "kind": kind,
            "severity": severity.value,
            "title": title,
            "body": body,
            "link": subject,
            "subject": subject,
            "period": period,
            "dedup_key": dedup,
            "alert_id": alert_id,
            "source_event_id": source_event_id,
            "rule_id": recipient.rule_id,
            "language": language,
            "render_error": render_error,
            "created_at": now,
        }
        deliveries: list[tuple[Any, ...]] = []
        if recipient.person is not None:
            # id, notification, tenant, recipient, channel, address, status, attempts,
            # next_attempt_at, digest_due_at, created_at, finished_at
            deliveries.append(
                (
                    uuid4(),
                    notification_id,
                    snap.tenant,
                    recipient.id,
                    "inbox",
                    None,
                    "delivered",
                    1,
                    None,
                    None,
                    now,
                    now,
                )
            )
            email = self._schedule_email(snap, recipient.person, n, kind, severity, now)
            if email is not None:
                deliveries.append(email)
        elif recipient.webhook is not None:
            deliveries.append(
                (
                    uuid4(),
                    notification_id,
                    snap.tenant,
                    recipient.id,
                    "webhook",
                    recipient.webhook.url,
                    "pending",
                    0,
                    now,
                    None,
                    now,
                    None,
                )
            )
        if alert_id is not None:
            batch.told.setdefault(alert_id, set()).add(recipient.id)
        planned = Planned(
            row=n,
            deliveries=deliveries,
            announce=recipient.person is not None,
            outcome=outcome,
        )
        batch.planned.append(planned)
        return planned

    def _schedule_email(
        self,
        snap: TenantSnapshot,
        person: Person,
        n: dict[str, Any],
        kind: str,
        severity: Severity,
        now: datetime,
    ) -> tuple[Any, ...] | None:
        """The e-mail delivery row for a notification, or None (e-mail off or no address)."""
        if not person.email_enabled:
            return None
        if not person.email:
            log.info(
                "no e-mail address; inbox only",
                extra={"tenant": snap.tenant, "recipient": person.id},
            )
            return None
        urgent = severity is Severity.CRITICAL or kind == ESCALATION
        if person.cadence is not Cadence.IMMEDIATE and not urgent:
            due = next_digest_slot(now, person.cadence, snap.digest, self.policy.calendar)
            return (
                uuid4(),
                n["id"],
                snap.tenant,
                person.id,
                "email",
                person.email,
                "digest",
                0,
                None,
                due,
                now,
                None,
            )
        send_at = next_send_time(
            now,
            severity,
            self.policy.quiet if person.respect_quiet_hours else None,
            self.policy.calendar,
            business_days_only=person.respect_quiet_hours,
        )
        if severity is not Severity.CRITICAL:
            send_at += self.policy.grouping
        return (
            uuid4(),
            n["id"],
            snap.tenant,
            person.id,
            "email",
            person.email,
            "pending",
            0,
            send_at,
            None,
            now,
            None,
        )
