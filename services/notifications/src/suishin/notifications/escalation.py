"""Escalation of unacknowledged alerts: after N business days the next level of the tenant's
chain (by default 所管課 → 事務局 → CIO) is told, then the next, until someone acknowledges."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

import asyncpg

from suishin.contracts.enums import Severity
from suishin.notifications import storage
from suishin.notifications.domain.shaping import JST, DigestSchedule, dedup_key
from suishin.notifications.domain.triggers import ESCALATION, Signal
from suishin.notifications.notifier import Notifier, Outcome, Recipient
from suishin.notifications.recipients import TenantSnapshot, load_snapshot

log = logging.getLogger(__name__)


async def escalate_due(
    conn: asyncpg.Connection,
    notifier: Notifier,
    now: datetime,
    default_digest: DigestSchedule,
    *,
    limit: int = 100,
) -> list[UUID]:
    """Escalate every open alert whose time has come; return the new notification ids."""
    alerts = await storage.alerts.due_for_escalation(conn, now, limit)
    created: list[UUID] = []
    snapshots: dict[str, TenantSnapshot] = {}
    business_days = notifier.settings.escalation_business_days
    for alert in alerts:
        tenant = alert["tenant"]
        snap = snapshots.get(tenant) or await load_snapshot(conn, tenant, now, default_digest)
        snapshots[tenant] = snap
        level = alert["escalation_level"] + 1
        chain = snap.escalation
        if level > len(chain):
            await storage.alerts.stop_escalation(conn, alert["id"])
            continue
        target = chain[level - 1]
        people = snap.holders(target, alert["department_codes"], now.astimezone(JST).date())
        top = level == len(chain)
        severity = Severity.CRITICAL if top else Severity.WARNING
        original = await storage.inbox.first_of_alert(conn, alert["id"])
        context = {
            "severity": severity.value,
            "level": level,
            "business_days": business_days,
            "alert": {
                "title": original["title"] if original else alert["alert_key"],
                "body": original["body"] if original else "",
                "opened_at": alert["opened_at"].astimezone(JST).strftime("%Y-%m-%d %H:%M"),
                "kind": alert["kind"],
            },
            "f": alert["facts"],
        }
        signal = Signal(
            tenant=tenant,
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
        if not people:
            await notifier.record(
                conn,
                signal,
                "no_recipients",
                None,
                f"escalation level {level} of alert {alert['id']} ({target.describe()}) "
                "resolves to nobody today",
                now,
                Outcome(),
            )
        for person in people:
            nid = await notifier.create(
                conn,
                snap,
                Recipient(person=person),
                kind=ESCALATION,
                severity=severity,
                context=context,
                facts=alert["facts"],
                subject=alert["subject"],
                period=alert["period"],
                dedup=dedup_key("alert", alert["id"], level),
                alert_id=alert["id"],
                source_event_id=alert["source_event_id"],
                now=now,
            )
            if nid is not None:
                created.append(nid)
        next_at = (
            notifier.calendar.add_business_days(now, business_days) if level < len(chain) else None
        )
        await storage.alerts.set_escalated(conn, alert["id"], level, next_at, top)
        log.info(
            "alert escalated",
            extra={
                "tenant": tenant,
                "alert": str(alert["id"]),
                "level": level,
                "target": target.describe(),
                "recipients": [p.id for p in people],
            },
        )
    return created
