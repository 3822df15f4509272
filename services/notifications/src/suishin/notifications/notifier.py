"""From a signal to stored notifications and scheduled deliveries, in the caller's transaction.

Order of decisions: resolve alerts the signal ends (and announce recovery to whoever was
alerted); deduplicate an alert that is already open; match rules and subscriptions; resolve
targets to people valid today; drop what a silence or a person's mute covers (never critical);
store one notification per recipient (unique dedup key), put it in the inbox at once and
announce it, and schedule e-mail/webhook deliveries through quiet hours, grouping and digests.
Anything that ends without a notification is recorded in ``routing_outcomes`` and logged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from suishin.contracts.enums import Severity
from suishin.notifications.channels.inbox import announce
from suishin.notifications.recipients import (
    Person,
    TenantSnapshot,
    WebhookTarget,
    people_by_id,
    resolve_target,
)
from suishin.notifications.rendering import Renderer, RenderError, fallback
from suishin.notifications.routing import (
    matching_rules,
    muted,
    silence_applies,
    subscription_matches,
)
from suishin.notifications.settings import NotificationsSettings
from suishin.notifications.shaping import (
    JST,
    SEVERITY_RANK,
    BusinessCalendar,
    Cadence,
    QuietHours,
    dedup_key,
    next_digest_slot,
    next_send_time,
    parse_hhmm,
)
from suishin.notifications.triggers import ESCALATION, Signal

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


class Notifier:
    def __init__(self, settings: NotificationsSettings, renderer: Renderer) -> None:
        self.settings = settings
        self.renderer = renderer
        self.calendar = BusinessCalendar()
        self.quiet = QuietHours(
            parse_hhmm(settings.quiet_hours_start), parse_hhmm(settings.quiet_hours_end)
        )
        self.grouping = timedelta(seconds=settings.grouping_window_seconds)

    def link_url(self, link: str | None) -> str:
        base = self.settings.portal_url.rstrip("/")
        if not link:
            return f"{base}/inbox"
        kind, _, ident = link.partition(":")
        return f"{base}/{kind.lower()}s/{ident}"

    # --- signals -------------------------------------------------------------------------

    async def apply(
        self, conn: asyncpg.Connection, signal: Signal, snap: TenantSnapshot, now: datetime
    ) -> Outcome:
        outcome = Outcome()
        departments, unknown = snap.departments.resolve(signal.department_codes)
        if not snap.known:
            await self.record(
                conn,
                signal,
                "unknown_tenant",
                None,
                f"no directory imported for tenant {signal.tenant}",
                now,
                outcome,
            )
            return outcome
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
            alerted = await self._resolve_alerts(conn, signal, now, outcome)
            if signal.announce_recovery:
                if not alerted:
                    await self.record(
                        conn,
                        signal,
                        "no_open_alert",
                        None,
                        "recovery with no open alert: nobody to tell",
                        now,
                        outcome,
                    )
                for recipient in alerted:
                    recipients.setdefault(recipient.id, recipient)

        alert_id: UUID | None = None
        escalate = False
        if not signal.announce_recovery:
            rules = matching_rules(snap.rules, signal, departments)
            escalate = any(r.escalate for r in rules)
            for rule in rules:
                found: list[Recipient] = []
                for target in rule.targets:
                    for person in await resolve_target(
                        conn, signal.tenant, target, departments, now.astimezone(JST).date()
                    ):
                        found.append(Recipient(person=person, rule_id=rule.id))
                for hook_id in rule.webhook_ids:
                    hook = snap.webhooks.get(hook_id)
                    if hook is not None and hook.enabled:
                        found.append(Recipient(webhook=hook, rule_id=rule.id))
                if not found:
                    described = "; ".join(t.describe() for t in rule.targets) or "(no targets)"
                    await self.record(
                        conn,
                        signal,
                        "no_recipients",
                        rule.id,
                        f"rule {rule.name!r} matched but its targets resolve to nobody today: "
                        f"{described} (departments: {', '.join(departments) or '-'}; "
                        f"unknown: {', '.join(unknown) or '-'})",
                        now,
                        outcome,
                    )
                for recipient in found:
                    recipients.setdefault(recipient.id, recipient)
            if not rules:
                await self.record(
                    conn,
                    signal,
                    "no_rule",
                    None,
                    f"no routing rule matches {signal.kind}",
                    now,
                    outcome,
                )
        subscribers = [
            s.person_id
            for s in snap.subscriptions
            if subscription_matches(s, signal, departments) and s.person_id not in recipients
        ]
        for person in await people_by_id(conn, signal.tenant, subscribers):
            if person.active:
                recipients.setdefault(person.id, Recipient(person=person))

        if not recipients:
            if signal.is_alert or signal.announce_recovery:
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
            alert_id = await self._open_alert(conn, signal, departments, escalate, now, outcome)
            if alert_id is None:
                return outcome

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
                    await self.record(
                        conn,
                        signal,
                        "silenced",
                        recipient.rule_id,
                        f"{recipient.id}: silenced by {silence.id}",
                        now,
                        outcome,
                    )
                    continue
                if muted(recipient.person.muted_kinds, signal):
                    await self.record(
                        conn,
                        signal,
                        "muted",
                        recipient.rule_id,
                        f"{recipient.id} muted {signal.kind}",
                        now,
                        outcome,
                    )
                    continue
            key = (
                dedup_key("alert", alert_id, 0, signal.severity.value)
                if alert_id is not None
                else dedup_key(signal.kind, signal.subject, signal.period, signal.source_event_id)
            )
            context = {"f": signal.facts, "severity": signal.severity.value}
            created = await self.create(
                conn,
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
                now=now,
            )
            if created is not None:
                outcome.notifications.append(created)
        return outcome

    async def _open_alert(
        self,
        conn: asyncpg.Connection,
        signal: Signal,
        departments: list[str],
        escalate: bool,
        now: datetime,
        outcome: Outcome,
    ) -> UUID | None:
        """The alert this signal opens; None when the same alert is already open (dedup)."""
        existing = await conn.fetchrow(
            """select id, severity from alerts
               where tenant = $1 and alert_key = $2 and state <> 'resolved' for update""",
            signal.tenant,
            signal.alert_key,
        )
        if existing is not None:
            if SEVERITY_RANK[Severity(existing["severity"])] >= SEVERITY_RANK[signal.severity]:
                await self.record(
                    conn,
                    signal,
                    "deduplicated",
                    None,
                    f"alert {existing['id']} ({signal.alert_key}) is already open",
                    now,
                    outcome,
                )
                return None
            await conn.execute(
                "update alerts set severity = $2 where id = $1",
                existing["id"],
                signal.severity.value,
            )
            return UUID(str(existing["id"]))
        alert_id = uuid4()
        escalate_at = (
            self.calendar.add_business_days(now, self.settings.escalation_business_days)
            if escalate
            else None
        )
        await conn.execute(
            """insert into alerts (id, tenant, alert_key, kind, subject, period, severity,
                   escalate, escalate_at, department_codes, plan_ids, facts, source_event_id,
                   opened_at)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
            alert_id,
            signal.tenant,
            signal.alert_key,
            signal.kind,
            signal.subject,
            signal.period,
            signal.severity.value,
            escalate,
            escalate_at,
            departments,
            list(signal.plan_ids),
            signal.facts,
            signal.source_event_id,
            now,
        )
        return alert_id

    async def _resolve_alerts(
        self, conn: asyncpg.Connection, signal: Signal, now: datetime, outcome: Outcome
    ) -> list[Recipient]:
        """Resolve open alerts of the kinds the signal ends; return who had been told."""
        rows = await conn.fetch(
            """update alerts set state = 'resolved', resolved_at = $5, escalate_at = null
               where tenant = $1 and subject = $2 and kind = any($3::text[])
                 and coalesce(period, '') = coalesce($4, '') and state <> 'resolved'
               returning id, kind""",
            signal.tenant,
            signal.subject,
            list(signal.resolves),
            signal.period,
            now,
        )
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        await self.record(
            conn,
            signal,
            "alert_resolved",
            None,
            "resolved " + ", ".join(f"{r['kind']} {r['id']}" for r in rows),
            now,
            outcome,
        )
        if not signal.announce_recovery:
            return []
        told = await conn.fetch(
            "select distinct recipient_id from notifications where alert_id = any($1::uuid[])",
            ids,
        )
        told_ids = [r["recipient_id"] for r in told]
        people = await people_by_id(conn, signal.tenant, told_ids)
        recipients = [Recipient(person=p) for p in people if p.active]
        hooks = await conn.fetch(
            "select * from webhooks where tenant = $1 and 'webhook:' || id = any($2::text[])",
            signal.tenant,
            told_ids,
        )
        for h in hooks:
            if h["enabled"]:
                recipients.append(
                    Recipient(
                        webhook=WebhookTarget(
                            tenant=signal.tenant,
                            id=h["id"],
                            url=h["url"],
                            format=h["format"],
                            secret=h["secret"],
                            enabled=h["enabled"],
                        )
                    )
                )
        return recipients

    # --- notifications -------------------------------------------------------------------

    async def create(
        self,
        conn: asyncpg.Connection,
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
        now: datetime,
    ) -> UUID | None:
        """Store one notification (once per dedup key), put it in the inbox, schedule pushes."""
        language = recipient.language
        render_error: str | None = None
        try:
            title, body = self.renderer.notice(kind, language, context)
        except RenderError as exc:
            render_error = str(exc)
            title, body = fallback(kind, language, facts)
            log.error(
                "template failed; sent a plain notice instead",
                extra={"tenant": snap.tenant, "kind": kind, "error": render_error},
            )
        link = subject
        notification_id = uuid4()
        row = await conn.fetchrow(
            """insert into notifications (id, tenant, recipient_id, kind, severity, title, body,
                   link, subject, period, dedup_key, alert_id, source_event_id, rule_id,
                   language, render_error, created_at)
               values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17)
               on conflict (tenant, recipient_id, dedup_key) do nothing
               returning *""",
            notification_id,
            snap.tenant,
            recipient.id,
            kind,
            severity.value,
            title,
            body,
            link,
            subject,
            period,
            dedup,
            alert_id,
            source_event_id,
            recipient.rule_id,
            language,
            render_error,
            now,
        )
        if row is None:
            log.info(
                "duplicate notification skipped",
                extra={"tenant": snap.tenant, "recipient": recipient.id, "dedup_key": dedup},
            )
            return None
        n = dict(row)
        if recipient.person is not None:
            await conn.execute(
                """insert into deliveries (id, notification_id, tenant, recipient_id, channel,
                       status, attempts, created_at, finished_at)
                   values ($1, $2, $3, $4, 'inbox', 'delivered', 1, $5, $5)""",
                uuid4(),
                notification_id,
                snap.tenant,
                recipient.id,
                now,
            )
            await announce(conn, n, channel="inbox", status="delivered", attempts=1)
            await self._schedule_email(conn, snap, recipient.person, n, kind, severity, now)
        elif recipient.webhook is not None:
            await conn.execute(
                """insert into deliveries (id, notification_id, tenant, recipient_id, channel,
                       address, status, next_attempt_at, created_at)
                   values ($1, $2, $3, $4, 'webhook', $5, 'pending', $6, $6)""",
                uuid4(),
                notification_id,
                snap.tenant,
                recipient.id,
                recipient.webhook.url,
                now,
            )
        return notification_id

    async def _schedule_email(
        self,
        conn: asyncpg.Connection,
        snap: TenantSnapshot,
        person: Person,
        n: dict[str, Any],
        kind: str,
        severity: Severity,
        now: datetime,
    ) -> None:
        if not person.email_enabled:
            return
        if not person.email:
            log.info(
                "no e-mail address; inbox only",
                extra={"tenant": snap.tenant, "recipient": person.id},
            )
            return
        urgent = severity is Severity.CRITICAL or kind == ESCALATION
        if person.cadence is not Cadence.IMMEDIATE and not urgent:
            due = next_digest_slot(now, person.cadence, snap.digest, self.calendar)
            await conn.execute(
                """insert into deliveries (id, notification_id, tenant, recipient_id, channel,
                       address, status, digest_due_at, created_at)
                   values ($1, $2, $3, $4, 'email', $5, 'digest', $6, $7)""",
                uuid4(),
                n["id"],
                snap.tenant,
                person.id,
                person.email,
                due,
                now,
            )
            return
        send_at = next_send_time(
            now,
            severity,
            self.quiet if person.respect_quiet_hours else None,
            self.calendar,
            business_days_only=person.respect_quiet_hours,
        )
        if severity is not Severity.CRITICAL:
            send_at += self.grouping
        await conn.execute(
            """insert into deliveries (id, notification_id, tenant, recipient_id, channel,
                   address, status, next_attempt_at, created_at)
               values ($1, $2, $3, $4, 'email', $5, 'pending', $6, $7)""",
            uuid4(),
            n["id"],
            snap.tenant,
            person.id,
            person.email,
            send_at,
            now,
        )

    async def record(
        self,
        conn: asyncpg.Connection,
        signal: Signal,
        what: str,
        rule_id: UUID | None,
        detail: str,
        now: datetime,
        outcome: Outcome,
    ) -> None:
        outcome.recorded.append(what)
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
        await conn.execute(
            """insert into routing_outcomes (tenant, source_event_id, event_type, outcome,
                   rule_id, detail, created_at) values ($1, $2, $3, $4, $5, $6, $7)""",
            signal.tenant,
            signal.source_event_id,
            signal.event_type,
            what,
            rule_id,
            detail,
            now,
        )
