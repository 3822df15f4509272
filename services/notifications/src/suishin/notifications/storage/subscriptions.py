"""People's own delivery preferences and their subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg


async def preferences(
    conn: asyncpg.Connection | asyncpg.Pool, tenant: str, person: str
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """select p.language as person_language, pr.* from people p
           left join preferences pr on pr.tenant = p.tenant and pr.person_id = p.id
           where p.tenant = $1 and p.id = $2""",
        tenant,
        person,
    )
    if row is None:
        return {"known": False}
    return {"known": True, **dict(row)}


async def person_exists(conn: asyncpg.Connection, tenant: str, person: str) -> bool:
    return bool(
        await conn.fetchval("select 1 from people where tenant = $1 and id = $2", tenant, person)
    )


async def update_preferences(
    conn: asyncpg.Connection, tenant: str, person: str, changes: dict[str, Any], now: datetime
) -> None:
    """Change the person's preferences (fields given as None stay)."""
    await conn.execute(
        """insert into preferences (tenant, person_id) values ($1, $2)
           on conflict do nothing""",
        tenant,
        person,
    )
    await conn.execute(
        """update preferences set
               email_enabled = coalesce($3, email_enabled),
               cadence = coalesce($4, cadence),
               muted_kinds = coalesce($5, muted_kinds),
               respect_quiet_hours = coalesce($6, respect_quiet_hours),
               language = coalesce($7, language),
               updated_at = $8, updated_by_user = true
           where tenant = $1 and person_id = $2""",
        tenant,
        person,
        changes.get("email_enabled"),
        changes.get("cadence"),
        changes.get("muted_kinds"),
        changes.get("respect_quiet_hours"),
        changes.get("language"),
        now,
    )


async def of_person(pool: asyncpg.Pool, tenant: str, person: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        """select * from subscriptions where tenant = $1 and person_id = $2
           order by created_at, id""",
        tenant,
        person,
    )
    return [dict(r) for r in rows]


async def create_subscription(
    conn: asyncpg.Connection, tenant: str, person: str, values: dict[str, Any], now: datetime
) -> dict[str, Any]:
    row = await conn.fetchrow(
        """insert into subscriptions (id, tenant, person_id, event_types, plan_id,
               department_code, min_severity, source, created_at)
           values ($1, $2, $3, $4, $5, $6, $7, 'user', $8) returning *""",
        uuid4(),
        tenant,
        person,
        values["event_types"],
        values.get("plan_id"),
        values.get("department_code"),
        values["min_severity"],
        now,
    )
    return dict(row)


async def delete_subscription(
    conn: asyncpg.Connection, tenant: str, person: str, ident: UUID
) -> bool:
    status = await conn.execute(
        "delete from subscriptions where tenant = $1 and person_id = $2 and id = $3",
        tenant,
        person,
        ident,
    )
    return status.endswith(" 1")
