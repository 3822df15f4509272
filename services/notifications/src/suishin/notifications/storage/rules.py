"""Routing rules and silences of a tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg


async def routing_rules(pool: asyncpg.Pool, tenant: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "select * from routing_rules where tenant = $1 order by created_at, name", tenant
    )
    return [dict(r) for r in rows]


async def create_rule(
    conn: asyncpg.Connection, tenant: str, values: dict[str, Any], created_by: str, now: datetime
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """insert into routing_rules (id, tenant, name, event_types, kinds, plan_ids,
               department_codes, min_severity, targets, webhook_ids, escalate, enabled, source,
               created_by, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, true, 'user', $12, $13)
           returning *""",
        uuid4(),
        tenant,
        values["name"],
        values["event_types"],
        values["kinds"],
        values["plan_ids"],
        values["department_codes"],
        values["min_severity"],
        values["targets"],
        values["webhook_ids"],
        values["escalate"],
        created_by,
        now,
    )
    return dict(row)


async def set_rule_enabled(
    conn: asyncpg.Connection, tenant: str, ident: UUID, enabled: bool
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "update routing_rules set enabled = $3 where tenant = $1 and id = $2 returning *",
        tenant,
        ident,
        enabled,
    )
    return dict(row) if row else None


async def silences(
    pool: asyncpg.Pool, tenant: str, now: datetime, include_expired: bool
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """select * from silences where tenant = $1 and ($3 or expires_at > $2)
           order by expires_at desc, id""",
        tenant,
        now,
        include_expired,
    )
    return [dict(r) for r in rows]


async def create_silence(
    conn: asyncpg.Connection, tenant: str, values: dict[str, Any], created_by: str, now: datetime
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """insert into silences (id, tenant, kinds, subject, department_code, recipient_id,
               reason, created_by, starts_at, expires_at, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) returning *""",
        uuid4(),
        tenant,
        values["kinds"],
        values.get("subject"),
        values.get("department_code"),
        values.get("recipient_id"),
        values["reason"],
        created_by,
        values["starts_at"],
        values["expires_at"],
        now,
    )
    return dict(row)


async def expire_silence(
    conn: asyncpg.Connection, tenant: str, ident: UUID, now: datetime
) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        """update silences set expires_at = greatest(starts_at + interval '1 microsecond', $3)
           where tenant = $1 and id = $2 returning *""",
        tenant,
        ident,
        now,
    )
    return dict(row) if row else None
