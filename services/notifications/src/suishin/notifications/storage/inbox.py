"""Notifications: the caller's inbox, acknowledgement and reading, the notices of an alert, and
the set-based insert of a consumer batch. Every inbox query is scoped to one tenant."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.notifications.storage.bulk import insert_unnest, unnest_args
from suishin.notifications.storage.deliveries import COLUMNS as DELIVERY_COLUMNS

COLUMNS = (
    ("id", "uuid"),
    ("tenant", "text"),
    ("recipient_id", "text"),
    ("kind", "text"),
    ("severity", "text"),
    ("title", "text"),
    ("body", "text"),
    ("link", "text"),
    ("subject", "text"),
    ("period", "text"),
    ("dedup_key", "text"),
    ("alert_id", "uuid"),
    ("source_event_id", "uuid"),
    ("rule_id", "uuid"),
    ("language", "text"),
    ("render_error", "text"),
    ("created_at", "timestamptz"),
)
"""The columns a new notification is written with (:func:`insert_many`)."""

_INSERT_NOTIFICATIONS = insert_unnest(
    "notifications",
    COLUMNS,
    "on conflict (tenant, recipient_id, dedup_key) do nothing returning id",
)
_INSERT_THEIR_DELIVERIES = insert_unnest(
    "deliveries",
    DELIVERY_COLUMNS,
    first=len(COLUMNS) + 1,
    where="u.notification_id in (select id from inserted)",
)
_INSERT_WITH_DELIVERIES = (
    f"with inserted as ({_INSERT_NOTIFICATIONS}), delivered as ({_INSERT_THEIR_DELIVERIES}) "
    "select id from inserted"
)


async def inbox_page(
    conn: asyncpg.Connection | asyncpg.Pool,
    tenant: str,
    recipient: str,
    *,
    first: int,
    after: tuple[datetime, UUID] | None,
    unread_only: bool,
) -> tuple[list[dict[str, Any]], bool, int]:
    """Newest first, keyset-paginated after the (created_at, id) position ``after``; (rows,
    has_next_page, total_count)."""
    position = after
    rows = await conn.fetch(
        """select * from notifications
           where tenant = $1 and recipient_id = $2 and (not $3 or read_at is null)
             and ($4::timestamptz is null or (created_at, id) < ($4, $5::uuid))
           order by created_at desc, id desc limit $6""",
        tenant,
        recipient,
        unread_only,
        position[0] if position else None,
        position[1] if position else None,
        first + 1,
    )
    total = await conn.fetchval(
        """select count(*) from notifications where tenant = $1 and recipient_id = $2
           and (not $3 or read_at is null)""",
        tenant,
        recipient,
        unread_only,
    )
    return [dict(r) for r in rows[:first]], len(rows) > first, int(total)


async def unread_count(conn: asyncpg.Connection | asyncpg.Pool, tenant: str, recipient: str) -> int:
    return int(
        await conn.fetchval(
            """select count(*) from notifications
               where tenant = $1 and recipient_id = $2 and read_at is null""",
            tenant,
            recipient,
        )
    )


async def notification(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, ident: UUID
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "select * from notifications where tenant = $1 and id = $2", tenant, ident
    )
    return dict(row) if row else None


async def notifications_by_ids(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select * from notifications where tenant = $1 and id = any($2::uuid[])", tenant, list(ids)
    )
    return [dict(r) for r in rows]


async def notification_for_update(
    conn: asyncpg.Connection, tenant: str, recipient: str, ident: UUID
) -> dict[str, Any] | None:
    """One of the recipient's notifications, locked."""
    row = await conn.fetchrow(
        """select * from notifications where tenant = $1 and id = $2 and recipient_id = $3
           for update""",
        tenant,
        ident,
        recipient,
    )
    return dict(row) if row else None


async def set_acknowledged(
    conn: asyncpg.Connection, ident: UUID, comment: str | None, now: datetime
) -> dict[str, Any]:
    updated = await conn.fetchrow(
        """update notifications set acknowledged_at = $2, ack_comment = $3,
               read_at = coalesce(read_at, $2)
           where id = $1 returning *""",
        ident,
        now,
        comment,
    )
    return dict(updated)


async def mark_read(
    conn: asyncpg.Connection, tenant: str, recipient: str, ids: Sequence[UUID] | None, now: datetime
) -> list[dict[str, Any]]:
    """Mark the given notifications (or all when ``ids`` is None) read."""
    rows = await conn.fetch(
        """update notifications set read_at = coalesce(read_at, $4)
           where tenant = $1 and recipient_id = $2
             and ($3::uuid[] is null or id = any($3::uuid[]))
             and ($3::uuid[] is not null or read_at is null)
           returning *""",
        tenant,
        recipient,
        list(ids) if ids is not None else None,
        now,
    )
    return [dict(r) for r in rows]


async def in_order(
    conn: asyncpg.Connection | asyncpg.Pool, ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    """The notifications with these ids, oldest first (any tenant: ids come from deliveries)."""
    rows = await conn.fetch(
        "select * from notifications where id = any($1::uuid[]) order by created_at, id",
        list(ids),
    )
    return [dict(r) for r in rows]


async def with_ids(conn: asyncpg.Connection, ids: Sequence[UUID]) -> list[dict[str, Any]]:
    rows = await conn.fetch("select * from notifications where id = any($1::uuid[])", list(ids))
    return [dict(r) for r in rows]


async def told_about(conn: asyncpg.Connection, alert_ids: Sequence[UUID]) -> list[tuple[UUID, str]]:
    """(alert, recipient) of every notification of these alerts."""
    rows = await conn.fetch(
        """select distinct alert_id, recipient_id from notifications
           where alert_id = any($1::uuid[])""",
        list(alert_ids),
    )
    return [(r["alert_id"], r["recipient_id"]) for r in rows]


async def first_of_alert(conn: asyncpg.Connection, alert_id: UUID) -> asyncpg.Record | None:
    """Title and body of an alert's first notification."""
    row: asyncpg.Record | None = await conn.fetchrow(
        """select title, body from notifications where alert_id = $1
           order by created_at, id limit 1""",
        alert_id,
    )
    return row


async def insert_many(
    conn: asyncpg.Connection,
    rows: Sequence[Sequence[Any]],
    deliveries: Sequence[Sequence[Any]] = (),
) -> set[UUID]:
    """Insert notifications (values in :data:`COLUMNS` order) and their ``deliveries``
    (:data:`suishin.notifications.storage.deliveries.COLUMNS` order) in one statement; a
    notification whose (tenant, recipient, dedup key) exists is skipped with its deliveries.
    Returns the ids inserted."""
    found = await conn.fetch(
        _INSERT_WITH_DELIVERIES,
        *unnest_args(rows, COLUMNS),
        *unnest_args(deliveries, DELIVERY_COLUMNS),
    )
    return {r["id"] for r in found}
