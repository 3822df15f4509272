"""Plans: their rows, states and history."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.plans.storage.db import Conn, Executor

PLAN_COLUMNS = """id, tenant, key, title, kind, fiscal_year_from, fiscal_year_to, phase, edition,
    predecessor_key, parent_plan_key, state, level_labels, published_on, published_at,
    superseded_at, superseded_by, document, grade_scale, created_at, updated_at"""


async def plans_by_ids(db: Executor, ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(f"select {PLAN_COLUMNS} from plans where id = any($1::uuid[])", ids)


async def plans_by_keys(db: Executor, keys: Sequence[tuple[str, str]]) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""select {PLAN_COLUMNS} from plans
            where (tenant, key) in (select * from unnest($1::text[], $2::text[]))""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )


async def plan(db: Executor, plan_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"select {PLAN_COLUMNS} from plans where id = $1", plan_id)


async def plan_by_key(db: Executor, tenant: str, key: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"select {PLAN_COLUMNS} from plans where tenant = $1 and key = $2", tenant, key
    )


async def plans_of(
    db: Executor, tenant: str, states: Sequence[str] | None = None
) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""select {PLAN_COLUMNS} from plans
            where tenant = $1 and ($2::text[] is null or state = any($2::text[]))
            order by fiscal_year_from, key""",
        tenant,
        list(states) if states is not None else None,
    )


async def measure_counts(db: Executor, plan_ids: Sequence[UUID]) -> dict[UUID, int]:
    rows = await db.fetch(
        """select plan_id, count(*) as n from nodes
           where plan_id = any($1::uuid[]) and kind = 'measure' group by plan_id""",
        plan_ids,
    )
    return {r["plan_id"]: r["n"] for r in rows}


async def plan_for_update(conn: Conn, plan_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow("select * from plans where id = $1 for update", plan_id)


async def plan_document(db: Executor, plan_id: UUID) -> dict[str, Any] | None:
    """What the plan file says beyond the columns (tag definitions among it)."""
    document: dict[str, Any] | None = await db.fetchval(
        "select document from plans where id = $1", plan_id
    )
    return document


async def plan_state(db: Executor, plan_id: UUID) -> asyncpg.Record | None:
    """Id, tenant and state of a plan."""
    return await db.fetchrow("select id, tenant, state from plans where id = $1", plan_id)


async def set_published(conn: Conn, plan_id: UUID) -> None:
    await conn.execute(
        """update plans set state = 'published', published_at = now(), updated_at = now()
           where id = $1""",
        plan_id,
    )


async def set_superseded(conn: Conn, plan_id: UUID, by_plan_id: UUID | None) -> None:
    await conn.execute(
        """update plans set state = 'superseded', superseded_at = now(), superseded_by = $2,
               updated_at = now()
           where id = $1""",
        plan_id,
        by_plan_id,
    )


async def add_plan_history(
    conn: Conn,
    *,
    plan_id: UUID,
    tenant: str,
    field: str,
    previous: Any,
    value: Any,
    changed_by: str,
    reason: str,
    source: str,
) -> None:
    await conn.execute(
        """insert into plan_history (plan_id, tenant, field, previous, value, changed_by, reason,
                                     source)
           values ($1, $2, $3, $4, $5, $6, $7, $8)""",
        plan_id,
        tenant,
        field,
        previous,
        value,
        changed_by,
        reason,
        source,
    )


async def insert_plan(conn: Conn, values: Sequence[Any]) -> None:
    """A new plan from the 16 imported columns (id, tenant, key, title, kind, fiscal years,
    phase, edition, predecessor, parent plan, state, level labels, published on, document,
    grade scale); published now unless a draft."""
    await conn.execute(
        """insert into plans (id, tenant, key, title, kind, fiscal_year_from, fiscal_year_to,
                              phase, edition, predecessor_key, parent_plan_key, state,
                              level_labels, published_on, document, grade_scale,
                              published_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   case when $12 in ('draft', 'outline', 'proposal') then null else now() end)""",
        *values,
    )


async def update_plan(conn: Conn, values: Sequence[Any]) -> None:
    """Rewrite an existing plan from the same 16 imported columns as :func:`insert_plan`."""
    await conn.execute(
        """update plans set title = $4, kind = $5, fiscal_year_from = $6, fiscal_year_to = $7,
               phase = $8, edition = $9, predecessor_key = $10, parent_plan_key = $11,
               state = $12, level_labels = $13, published_on = $14, document = $15,
               grade_scale = $16,
               published_at = case when $12 not in ('draft', 'outline', 'proposal')
                                   then coalesce(published_at, now()) end,
               updated_at = now()
           where id = $1 and tenant = $2 and key = $3""",
        *values,
    )


async def plans_with_milestones(conn: Conn) -> list[asyncpg.Record]:
    """Plans in force that print milestones (id, tenant, key, title, level labels, document)."""
    return await conn.fetch(
        """select id, tenant, key, title, level_labels, document from plans
           where state = 'published'
             and jsonb_array_length(coalesce(document -> 'plan' -> 'milestones', '[]')) > 0
           order by id"""
    )


async def milestone_reminders_of(conn: Conn, plan_id: UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select milestone_key, remind_days, due_on from milestone_reminders where plan_id = $1",
        plan_id,
    )


async def add_milestone_reminder(
    conn: Conn,
    plan_id: UUID,
    key: str,
    remind_days: int,
    due_on: date,
    *,
    skipped: bool,
    event_id: UUID | None,
    sent_at: datetime,
) -> bool:
    """Record a reminder step; False when it was recorded already (another sweep won)."""
    written = await conn.fetchval(
        """insert into milestone_reminders
               (plan_id, milestone_key, remind_days, due_on, skipped, event_id, sent_at)
           values ($1, $2, $3, $4, $5, $6, $7)
           on conflict do nothing returning true""",
        plan_id,
        key,
        remind_days,
        due_on,
        skipped,
        event_id,
        sent_at,
    )
    return bool(written)
