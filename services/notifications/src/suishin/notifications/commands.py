"""Every state change of the notifications service, one function per command.

A command takes a connection inside the caller's transaction (``kit.db.transaction`` in a
mutation, the inbox handler's transaction for a consumer batch), checks the rules of
:mod:`suishin.notifications.domain` before writing, and writes through
:mod:`suishin.notifications.storage`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.kit.errors import DomainError, NotFound
from suishin.notifications import storage
from suishin.notifications.domain import rules
from suishin.notifications.domain.directory import Directory

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
    rules.check_rule_header(rule["name"], rule["event_types"], rule["kinds"])
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
