"""Deliveries of notifications on the inbox, e-mail and webhook channels, and their attempt
log: the set-based insert of a batch, the dispatcher's claim (``FOR UPDATE SKIP LOCKED`` with a
lease) and the outcome of each attempt."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

COLUMNS = (
    ("id", "uuid"),
    ("notification_id", "uuid"),
    ("tenant", "text"),
    ("recipient_id", "text"),
    ("channel", "text"),
    ("address", "text"),
    ("status", "text"),
    ("attempts", "int"),
    ("next_attempt_at", "timestamptz"),
    ("digest_due_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("finished_at", "timestamptz"),
)
"""The columns a new delivery is written with (``storage.inbox.insert_many``)."""


async def for_notifications(
    conn: asyncpg.Connection | asyncpg.Pool, notification_ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    """Deliveries of the notifications, including the group or digest e-mail that carried them."""
    rows = await conn.fetch(
        """select d.*, coalesce(d.notification_id, x.notification_id) as for_notification
           from deliveries d
           left join deliveries x on x.group_id = d.id
           where d.notification_id = any($1::uuid[]) or x.notification_id = any($1::uuid[])
           order by d.created_at, d.id""",
        list(notification_ids),
    )
    return [dict(r) for r in rows]


async def attempts(
    conn: asyncpg.Connection | asyncpg.Pool, delivery_ids: Sequence[UUID]
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """select * from delivery_attempts where delivery_id = any($1::uuid[])
           order by delivery_id, attempt, id""",
        list(delivery_ids),
    )
    return [dict(r) for r in rows]


async def claim_due(
    conn: asyncpg.Connection, now: datetime, limit: int, lease_until: datetime
) -> list[dict[str, Any]]:
    """Lease the e-mail and webhook deliveries due at ``now`` (and those of a crashed sender
    whose lease ran out), with the e-mails already waiting for the same people (grouping):
    their attempt count goes up, their status to ``sending``."""
    due = await conn.fetch(
        """select id from deliveries
           where channel in ('email', 'webhook')
             and ((status = 'pending' and next_attempt_at <= $1)
                  or (status = 'sending' and lease_until < $1))
           order by next_attempt_at
           limit $2
           for update skip locked""",
        now,
        limit,
    )
    ids = [r["id"] for r in due]
    if not ids:
        return []
    # Grouping: other e-mails already waiting for the same people go along, unless they are
    # digest items or being retried.
    extra = await conn.fetch(
        """select d.id from deliveries d
           where d.channel = 'email' and d.status = 'pending' and d.attempts = 0
             and d.digest_id is null and d.id <> all($1::uuid[])
             and (d.tenant, d.recipient_id) in (
                 select tenant, recipient_id from deliveries
                 where id = any($1::uuid[]) and channel = 'email' and attempts = 0
                   and digest_id is null)
           for update skip locked""",
        ids,
    )
    ids += [r["id"] for r in extra]
    rows = await conn.fetch(
        """update deliveries set status = 'sending', attempts = attempts + 1,
               lease_until = $2
           where id = any($1::uuid[])
           returning *""",
        ids,
        lease_until,
    )
    return [dict(r) for r in rows]


async def record_attempt(
    conn: asyncpg.Connection,
    delivery_id: UUID,
    attempt: int,
    started: datetime,
    finished: datetime,
    outcome: str,
    error: str | None,
    detail: str | None,
) -> None:
    await conn.execute(
        """insert into delivery_attempts (delivery_id, attempt, started_at,
               finished_at, outcome, error, detail)
           values ($1, $2, $3, $4, $5, $6, $7)""",
        delivery_id,
        attempt,
        started,
        finished,
        outcome,
        error,
        detail,
    )


async def set_status(
    conn: asyncpg.Connection,
    delivery_id: UUID,
    status: str,
    next_attempt_at: datetime | None,
    error: str | None,
    finished: datetime,
) -> None:
    """The delivery's state after an attempt; ``finished_at`` is set once it is final."""
    await conn.execute(
        """update deliveries set status = $2, next_attempt_at = $3,
               lease_until = null, last_error = $4,
               finished_at = case when $2::text in ('delivered', 'failed')
                                  then $5::timestamptz end
           where id = $1""",
        delivery_id,
        status,
        next_attempt_at,
        error,
        finished,
    )


async def carried_by(conn: asyncpg.Connection, group_id: UUID) -> list[UUID]:
    """The notifications a digest e-mail carried."""
    rows = await conn.fetch("select notification_id from deliveries where group_id = $1", group_id)
    return [r["notification_id"] for r in rows]


async def finish_carried(
    conn: asyncpg.Connection, group_id: UUID, status: str, error: str | None, finished: datetime
) -> None:
    """The deliveries a digest e-mail carried share its final status."""
    await conn.execute(
        "update deliveries set status = $2, finished_at = $4, last_error = $3 where group_id = $1",
        group_id,
        status,
        error,
        finished,
    )


async def drop_for_resolved(
    conn: asyncpg.Connection, alert_ids: Sequence[UUID], now: datetime
) -> int:
    """E-mails of these (resolved) alerts still held for quiet hours, grouping or a digest
    are dropped instead of sent; the number dropped."""
    if not alert_ids:
        return 0
    rows = await conn.fetch(
        """update deliveries d set status = 'dropped', finished_at = $2,
               next_attempt_at = null, digest_due_at = null,
               last_error = 'alert resolved before sending'
           from notifications n
           where n.id = d.notification_id and n.alert_id = any($1::uuid[])
             and d.channel = 'email' and d.status in ('pending', 'digest')
             and d.attempts = 0
           returning d.id""",
        list(alert_ids),
        now,
    )
    return len(rows)


async def next_due(conn: Any) -> datetime | None:
    """When the dispatcher next has something to do: the earliest pending e-mail or webhook
    delivery's ``next_attempt_at`` or lease of a delivery being sent (``conn``: pool or
    connection)."""
    due: datetime | None = await conn.fetchval(
        """select min(t) from (
               select min(next_attempt_at) as t from deliveries
               where channel in ('email', 'webhook') and status = 'pending'
               union all
               select min(lease_until) from deliveries
               where channel in ('email', 'webhook') and status = 'sending') as due"""
    )
    return due
