"""The escalation job: every open alert whose time has come goes one level up its tenant's
chain (the rules in :mod:`suishin.notifications.domain.escalation`, the change in
:func:`suishin.notifications.commands.escalate_alert`)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from suishin.notifications import commands, storage
from suishin.notifications.domain.notices import Router
from suishin.notifications.domain.recipients import TenantSnapshot
from suishin.notifications.domain.shaping import DigestSchedule


async def escalate_due(
    conn: asyncpg.Connection,
    router: Router,
    now: datetime,
    default_digest: DigestSchedule,
    *,
    limit: int = 100,
) -> list[UUID]:
    """Escalate every open alert whose time has come; return the new notification ids."""
    alerts = await storage.alerts.due_for_escalation(conn, now, limit)
    created: list[UUID] = []
    snapshots: dict[str, TenantSnapshot] = {}
    for alert in alerts:
        tenant = alert["tenant"]
        snap = (
            snapshots.get(tenant)
            or (await storage.directory.snapshots(conn, [tenant], now, default_digest))[tenant]
        )
        snapshots[tenant] = snap
        created += await commands.escalate_alert(conn, router, snap, alert, now)
    return created
