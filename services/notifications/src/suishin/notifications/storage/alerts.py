"""Alert episodes (one per alert key while open: dedup, recovery, acknowledgement, escalation)
and the log of routing outcomes (events that ended without some notification, and why)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.notifications.storage.bulk import columns, insert_unnest, unnest_args

OUTCOME_COLUMNS = (
    ("tenant", "text"),
    ("source_event_id", "uuid"),
    ("event_type", "text"),
    ("outcome", "text"),
    ("rule_id", "uuid"),
    ("detail", "text"),
    ("created_at", "timestamptz"),
)
"""The columns a routing outcome is written with (:func:`insert_outcomes`)."""

_INSERT_OUTCOMES = insert_unnest("routing_outcomes", OUTCOME_COLUMNS)

ALERT_COLUMNS = (
    ("id", "uuid"),
    ("tenant", "text"),
    ("alert_key", "text"),
    ("kind", "text"),
    ("subject", "text"),
    ("period", "text"),
    ("severity", "text"),
    ("state", "text"),
    ("escalate", "boolean"),
    ("escalate_at", "timestamptz"),
    ("department_codes", "text[]"),
    ("plan_ids", "uuid[]"),
    ("facts", "jsonb"),
    ("source_event_id", "uuid"),
    ("opened_at", "timestamptz"),
    ("resolved_at", "timestamptz"),
)
"""The columns a new alert is written with (:func:`insert_many`)."""

_INSERT_ALERTS = insert_unnest("alerts", ALERT_COLUMNS)


async def lock_open(
    conn: asyncpg.Connection, subjects: Sequence[tuple[str, str]]
) -> list[asyncpg.Record]:
    """Lock and load the alerts not resolved of these (tenant, subject) pairs."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """select id, tenant, alert_key, kind, subject, period, severity, state, escalate_at
           from alerts
           where state <> 'resolved'
             and (tenant, subject) in (select * from unnest($1::text[], $2::text[]))
           order by id
           for update""",
        [t for t, _ in subjects],
        [s for _, s in subjects],
    )
    return rows


async def update_many(conn: asyncpg.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Set (id, severity, state, resolved_at, escalate_at) of alerts, in one statement."""
    if not rows:
        return
    await conn.execute(
        """update alerts a set severity = u.severity, state = u.state,
               resolved_at = u.resolved_at, escalate_at = u.escalate_at
           from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[],
                       $5::timestamptz[]) as u(id, severity, state, resolved_at,
                                               escalate_at)
           where a.id = u.id""",
        *columns(rows, 5),
    )


async def insert_many(conn: asyncpg.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert alerts (values in :data:`ALERT_COLUMNS` order) in one statement."""
    if rows:
        await conn.execute(_INSERT_ALERTS, *unnest_args(rows, ALERT_COLUMNS))


async def acknowledge_alert(
    conn: asyncpg.Connection, alert_id: UUID, by: str, comment: str | None, now: datetime
) -> None:
    """An open alert stops escalating."""
    await conn.execute(
        """update alerts set state = 'acknowledged', acknowledged_at = $2,
               acknowledged_by = $3, ack_comment = $4, escalate_at = null
           where id = $1 and state = 'open'""",
        alert_id,
        now,
        by,
        comment,
    )


async def routing_outcomes(
    pool: asyncpg.Pool, tenant: str, first: int, outcome: str | None
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """select * from routing_outcomes where tenant = $1 and ($2::text is null or outcome = $2)
           order by created_at desc, id desc limit $3""",
        tenant,
        outcome,
        first,
    )
    return [dict(r) for r in rows]


async def due_for_escalation(
    conn: asyncpg.Connection, now: datetime, limit: int
) -> list[asyncpg.Record]:
    """Open, escalating alerts whose time has come, locked (others skip them)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """select * from alerts
           where state = 'open' and escalate and escalate_at <= $1
           order by escalate_at limit $2 for update skip locked""",
        now,
        limit,
    )
    return rows


async def stop_escalation(conn: asyncpg.Connection, alert_id: UUID) -> None:
    await conn.execute("update alerts set escalate_at = null where id = $1", alert_id)


async def set_escalated(
    conn: asyncpg.Connection, alert_id: UUID, level: int, next_at: datetime | None, top: bool
) -> None:
    """The alert reached ``level``; at the top of the chain it becomes critical."""
    await conn.execute(
        """update alerts set escalation_level = $2, escalate_at = $3,
               severity = case when $4 then 'critical' else severity end
           where id = $1""",
        alert_id,
        level,
        next_at,
        top,
    )


async def insert_outcome(conn: asyncpg.Connection, row: Sequence[Any]) -> None:
    """One routing outcome (values in :data:`OUTCOME_COLUMNS` order)."""
    await conn.execute(
        """insert into routing_outcomes (tenant, source_event_id, event_type, outcome,
               rule_id, detail, created_at) values ($1, $2, $3, $4, $5, $6, $7)""",
        *row,
    )


async def insert_outcomes(conn: asyncpg.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Routing outcomes (values in :data:`OUTCOME_COLUMNS` order), in one statement."""
    if rows:
        await conn.execute(_INSERT_OUTCOMES, *unnest_args(rows, OUTCOME_COLUMNS))


async def settled(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The (tenant, alert_key) pairs among ``keys`` that were settled for good."""
    rows = await conn.fetch(
        """select tenant, alert_key from settled_alerts
           where (tenant, alert_key) in (select * from unnest($1::text[], $2::text[]))""",
        [t for t, _ in keys],
        [k for _, k in keys],
    )
    return [(r["tenant"], r["alert_key"]) for r in rows]


async def settle_many(
    conn: asyncpg.Connection, rows: Sequence[tuple[str, str, UUID | None]], now: datetime
) -> None:
    """Remember (tenant, alert_key, source event) as settled, in one statement."""
    if not rows:
        return
    await conn.execute(
        """insert into settled_alerts (tenant, alert_key, source_event_id, settled_at)
           select t, k, e, $4 from unnest($1::text[], $2::text[], $3::uuid[]) as u(t, k, e)
           on conflict (tenant, alert_key) do nothing""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        now,
    )
