"""Every state change of the notifications service, one function per command.

A command takes a connection inside the caller's transaction (``kit.db.transaction`` in a
mutation, the inbox handler's transaction for a consumer batch), checks the rules of
:mod:`suishin.notifications.domain` before writing, and writes through
:mod:`suishin.notifications.storage`."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from suishin.contracts.events import Envelope
from suishin.kit.errors import DomainError, NotFound
from suishin.kit.outbox import enqueue_many
from suishin.notifications import storage
from suishin.notifications.channels.inbox import announce, delivered_event
from suishin.notifications.domain import escalation, rules
from suishin.notifications.domain.directory import Directory
from suishin.notifications.domain.notices import Batch, Outcome, Recipient, Router, log_outcome
from suishin.notifications.domain.recipients import TenantSnapshot
from suishin.notifications.domain.shaping import JST, DigestSchedule, Retries, dedup_key
from suishin.notifications.domain.triggers import ESCALATION, Signal

log = logging.getLogger(__name__)

# --- signals: from events to notifications ---------------------------------------------------


async def apply_signals(
    conn: asyncpg.Connection,
    router: Router,
    signals: Sequence[Signal],
    now: datetime,
    default_digest: DigestSchedule,
    cache: storage.directory.SnapshotCache | None = None,
) -> list[Outcome]:
    """Apply a batch of signals, in order, with a bounded number of statements: the snapshots
    of its tenants (one query per table; from ``cache`` with one query when none of them
    changed), its subjects' open alerts (locked) and who was told about those a recovery may
    end, then one write per table."""
    if not signals:
        return []
    tenants = {s.tenant for s in signals}
    snapshots = (
        await cache.snapshots(conn, tenants, now, default_digest)
        if cache is not None
        else await storage.directory.snapshots(conn, tenants, now, default_digest)
    )
    batch = Batch(now)
    subjects = Batch.subjects(signals)
    settleable = Batch.settleable(signals)
    if settleable:
        batch.add_settled(await storage.alerts.settled(conn, settleable))
    if subjects:
        batch.add_open(await storage.alerts.lock_open(conn, subjects))
        recoverable = batch.recoverable(signals)
        if recoverable:
            batch.add_told(await storage.inbox.told_about(conn, recoverable))
    outcomes = [router.decide(batch, s, snapshots[s.tenant], now) for s in signals]
    await _write(conn, batch)
    return outcomes


async def _write(conn: asyncpg.Connection, batch: Batch) -> None:
    """Write what a batch decided: at most one statement per table, whatever its size."""
    # the changes first: a resolved alert may be reopened in the same batch
    await storage.alerts.update_many(conn, batch.changed_alerts())
    await storage.alerts.insert_many(conn, batch.opened_alerts())
    await storage.alerts.insert_outcomes(conn, batch.outcomes)
    await storage.alerts.settle_many(conn, batch.newly_settled, batch.now)
    if batch.planned:
        rows = batch.notification_rows([name for name, _ in storage.inbox.COLUMNS])
        stored = await storage.inbox.insert_many(conn, rows, batch.delivery_rows())
        announced = batch.inserted(stored)
        events: list[Envelope[Any]] = [
            delivered_event(n, channel="inbox", status="delivered", attempts=1) for n in announced
        ]
        await enqueue_many(conn, events)
    # last: an alert opened and resolved within the batch has its e-mails written by now
    resolved = batch.resolved_ids()
    if resolved:
        dropped = await storage.deliveries.drop_for_resolved(conn, resolved, batch.now)
        if dropped:
            log.info(
                "held e-mails of resolved alerts dropped",
                extra={"alerts": [str(a) for a in resolved], "dropped": dropped},
            )


async def escalate_alert(
    conn: asyncpg.Connection,
    router: Router,
    snap: TenantSnapshot,
    alert: Mapping[str, Any],
    now: datetime,
) -> list[UUID]:
    """Tell the next level of the tenant's chain about an unacknowledged alert (or stop
    escalating it at the end of the chain); return the new notification ids."""
    chain = snap.escalation
    level = escalation.next_level(alert, chain)
    if level is None:
        await storage.alerts.stop_escalation(conn, alert["id"])
        return []
    target = chain[level - 1]
    people = snap.holders(target, alert["department_codes"], now.astimezone(JST).date())
    first = await storage.inbox.first_of_alert(conn, alert["id"])
    policy = router.policy
    step = escalation.step(
        alert, level, chain, first, now, policy.calendar, policy.escalation_business_days
    )
    if not people:
        outcome = Outcome()
        what = "no_recipients"
        detail = (
            f"escalation level {level} of alert {alert['id']} ({target.describe()}) "
            "resolves to nobody today"
        )
        outcome.recorded.append(what)
        log_outcome(step.signal, what, detail)
        signal = step.signal
        await storage.alerts.insert_outcome(
            conn,
            (signal.tenant, signal.source_event_id, signal.event_type, what, None, detail, now),
        )
    created: list[UUID] = []
    for person in people:
        batch = Batch(now)
        planned = router.plan(
            batch,
            snap,
            Recipient(person=person),
            kind=ESCALATION,
            severity=step.severity,
            context=step.context,
            facts=alert["facts"],
            subject=alert["subject"],
            period=alert["period"],
            dedup=dedup_key("alert", alert["id"], level),
            alert_id=alert["id"],
            source_event_id=alert["source_event_id"],
            outcome=None,
        )
        await _write(conn, batch)
        if planned is not None and planned.inserted:
            created.append(planned.row["id"])
    await storage.alerts.set_escalated(conn, alert["id"], level, step.next_at, step.top)
    log.info(
        "alert escalated",
        extra={
            "tenant": alert["tenant"],
            "alert": str(alert["id"]),
            "level": level,
            "target": target.describe(),
            "recipients": [p.id for p in people],
        },
    )
    return created


# --- digests and deliveries ------------------------------------------------------------------


async def compose_digest(
    conn: asyncpg.Connection,
    tenant: str,
    recipient: str,
    address: str | None,
    items: list[UUID],
    now: datetime,
) -> UUID:
    """Bundle a person's due digest items into one e-mail delivery (due now); the digest id."""
    cadence = await storage.digests.preferred_cadence(conn, tenant, recipient)
    digest_id, delivery_id = uuid4(), uuid4()
    await storage.digests.create(
        conn,
        digest_id=digest_id,
        delivery_id=delivery_id,
        tenant=tenant,
        recipient=recipient,
        address=address,
        cadence=cadence or "daily",
        items=items,
        now=now,
    )
    return digest_id


async def claim_deliveries(
    conn: asyncpg.Connection, now: datetime, limit: int, lease_until: datetime
) -> list[dict[str, Any]]:
    """Lease the e-mail and webhook deliveries due at ``now`` (see
    :func:`storage.deliveries.claim_due`)."""
    return await storage.deliveries.claim_due(conn, now, limit, lease_until)


async def finish_attempts(
    conn: asyncpg.Connection,
    deliveries: Sequence[Mapping[str, Any]],
    started: datetime,
    finished: datetime,
    *,
    detail: str | None,
    error: str | None,
    permanent: bool,
    retries: Retries,
) -> None:
    """Log the attempt that sent ``deliveries`` (one message) and set their state: delivered,
    pending again (with backoff) or failed. Final outcomes are announced as
    ``notification.delivered``; a digest's outcome is that of every notice it carried."""
    for d in deliveries:
        attempt = d["attempts"]
        result, status, next_at = retries.after(attempt, error, permanent, finished)
        await storage.deliveries.record_attempt(
            conn, d["id"], attempt, started, finished, result, error, detail
        )
        await storage.deliveries.set_status(conn, d["id"], status, next_at, error, finished)
        if status == "pending":
            log.warning(
                "delivery failed; will retry",
                extra={
                    "delivery": str(d["id"]),
                    "channel": d["channel"],
                    "attempt": attempt,
                    "error": error,
                    "retry_at": str(next_at),
                },
            )
            continue
        if status == "failed":
            log.error(
                "delivery failed for good",
                extra={
                    "delivery": str(d["id"]),
                    "channel": d["channel"],
                    "attempts": attempt,
                    "error": error,
                },
            )
        if d["notification_id"] is not None:
            ids = [d["notification_id"]]
        else:  # a digest: every notice it carried reached (or missed) the person by e-mail
            ids = await storage.deliveries.carried_by(conn, d["id"])
            await storage.deliveries.finish_carried(
                conn, d["id"], "delivered" if status == "delivered" else "failed", error, finished
            )
        for n in await storage.inbox.with_ids(conn, ids):
            await announce(
                conn, n, channel=d["channel"], status=status, attempts=attempt, error=error
            )


# --- the caller's inbox ----------------------------------------------------------------------


async def acknowledge(
    conn: asyncpg.Connection,
    tenant: str,
    recipient: str,
    notification_id: str,
    comment: str | None,
    now: datetime,
) -> dict[str, Any]:
    """Acknowledge one's own notification with a comment; its alert stops escalating."""
    comment = rules.acknowledgement_comment(comment)
    ident = rules.parse_id(notification_id, "notificationId")
    row = await storage.inbox.notification_for_update(conn, tenant, recipient, ident)
    if row is None:
        raise NotFound("通知", "Notification", str(ident))
    if row["acknowledged_at"] is not None:
        raise DomainError(
            "ALREADY_ACKNOWLEDGED",
            "この通知は既に対応済みです",
            "This notification is already acknowledged",
            field="notificationId",
        )
    updated = await storage.inbox.set_acknowledged(conn, ident, comment, now)
    if row["alert_id"] is not None:
        await storage.alerts.acknowledge_alert(conn, row["alert_id"], recipient, comment, now)
    return updated


async def mark_read(
    conn: asyncpg.Connection,
    tenant: str,
    recipient: str,
    ids: Sequence[UUID] | None,
    now: datetime,
) -> tuple[list[dict[str, Any]], int]:
    """Mark the given notifications (all when ``ids`` is None) read: (those, unread left)."""
    rows = await storage.inbox.mark_read(conn, tenant, recipient, ids, now)
    unread = 0 if ids is None else await storage.inbox.unread_count(conn, tenant, recipient)
    return rows, unread


# --- the caller's settings -------------------------------------------------------------------


async def update_preferences(
    conn: asyncpg.Connection,
    tenant: str,
    person: str,
    changes: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """Change the person's own preferences; fields given as None stay."""
    rules.check_preferences(changes)
    if not await storage.subscriptions.person_exists(conn, tenant, person):
        raise DomainError(
            "UNKNOWN_PERSON",
            "通知先の名簿に登録されていません（事務局に登録を依頼してください）",
            "You are not in the notification directory; ask the secretariat to add you",
        )
    await storage.subscriptions.update_preferences(conn, tenant, person, dict(changes), now)
    return await storage.subscriptions.preferences(conn, tenant, person)


async def subscribe(
    conn: asyncpg.Connection,
    tenant: str,
    person: str,
    *,
    event_types: list[str],
    plan_id: str | None,
    department_code: str | None,
    min_severity: str,
    now: datetime,
) -> dict[str, Any]:
    """Subscribe a person in the directory to events by type, plan and department."""
    rules.check_event_types(event_types, "input.eventTypes")
    codes = await storage.directory.codes(conn, tenant)
    rules.check_subscriber(person, department_code, codes)
    return await storage.subscriptions.create_subscription(
        conn,
        tenant,
        person,
        {
            "event_types": event_types,
            "plan_id": rules.parse_id(plan_id, "input.planId") if plan_id else None,
            "department_code": department_code,
            "min_severity": min_severity,
        },
        now,
    )


async def unsubscribe(conn: asyncpg.Connection, tenant: str, person: str, ident: UUID) -> None:
    if not await storage.subscriptions.delete_subscription(conn, tenant, person, ident):
        raise DomainError("NOT_FOUND", "購読が見つかりません", "Subscription not found", field="id")


# --- the 事務局's tools -----------------------------------------------------------------------


async def create_routing_rule(
    conn: asyncpg.Connection,
    tenant: str,
    created_by: str,
    rule: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A new routing rule (``rule``: the arguments of :func:`rules.rule_values` but the
    directory), checked against the tenant's directory."""
    codes = await storage.directory.codes(conn, tenant)
    values = rules.rule_values(**rule, codes=codes)
    return await storage.rules.create_rule(conn, tenant, values, created_by, now)


async def set_routing_rule_enabled(
    conn: asyncpg.Connection, tenant: str, ident: UUID, enabled: bool
) -> dict[str, Any]:
    row = await storage.rules.set_rule_enabled(conn, tenant, ident, enabled)
    if row is None:
        raise NotFound("ルーティングルール", "Routing rule", str(ident))
    return row


async def create_silence(
    conn: asyncpg.Connection,
    tenant: str,
    created_by: str,
    silence: Mapping[str, Any],
    now: datetime,
) -> dict[str, Any]:
    """A new silence (``silence``: the arguments of :func:`rules.silence_values` but now)."""
    values = rules.silence_values(**silence, now=now)
    return await storage.rules.create_silence(conn, tenant, values, created_by, now)


async def expire_silence(
    conn: asyncpg.Connection, tenant: str, ident: UUID, now: datetime
) -> dict[str, Any]:
    row = await storage.rules.expire_silence(conn, tenant, ident, now)
    if row is None:
        raise NotFound("サイレンス", "Silence", str(ident))
    return row


# --- the directory ---------------------------------------------------------------------------


async def import_directory(
    conn: asyncpg.Connection, directory: Directory, secrets: Mapping[str, str]
) -> dict[str, int]:
    """Replace the tenant's directory (``secrets``: each webhook's signing secret)."""
    await storage.directory.replace(conn, directory, secrets)
    return {
        "departments": len(directory.departments),
        "bodies": len(directory.bodies),
        "posts": len(directory.posts),
        "people": len(directory.people),
        "webhooks": len(directory.webhooks),
        "rules": len(directory.rules),
    }
