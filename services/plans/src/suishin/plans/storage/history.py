"""History of nodes (field changes) and of grades (machine and override)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from suishin.plans.storage.db import Conn, Executor


async def history_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select id, node_id, field, previous, value, changed_by, reason, source, changed_at
           from node_history where node_id = any($1::uuid[]) order by node_id, id""",
        node_ids,
    )


async def add_history(
    conn: Conn,
    *,
    node_id: UUID,
    tenant: str,
    field: str,
    previous: Any,
    value: Any,
    changed_by: str,
    reason: str,
    source: str,
) -> None:
    await conn.execute(
        """insert into node_history
               (node_id, tenant, field, previous, value, changed_by, reason, source)
           values ($1, $2, $3, $4, $5, $6, $7, $8)""",
        node_id,
        tenant,
        field,
        previous,
        value,
        changed_by,
        reason,
        source,
    )


async def grade_history_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from grade_history where measure_id = any($1::uuid[])
           order by measure_id, id""",
        measure_ids,
    )


async def add_grade_history(
    conn: Conn,
    *,
    measure_id: UUID,
    tenant: str,
    fiscal_year: int,
    kind: str,
    previous: str | None,
    grade: str | None,
    reason: str | None,
    changed_by: str,
) -> None:
    """One change of the machine grade (``kind`` machine) or of the override (override)."""
    await add_grade_histories(
        conn, [(measure_id, tenant, fiscal_year, kind, previous, grade, reason, changed_by)]
    )


async def add_grade_histories(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Many grade changes in one statement, in order. A row is (measure_id, tenant,
    fiscal_year, kind, previous, grade, reason, changed_by)."""
    if not rows:
        return
    await conn.execute(
        """insert into grade_history
               (measure_id, tenant, fiscal_year, kind, previous, grade, reason, changed_by)
           select * from unnest($1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[],
                                $6::text[], $7::text[], $8::text[])""",
        *[list(c) for c in zip(*rows, strict=True)],
    )


async def completed_since(db: Executor, measure_ids: Sequence[UUID]) -> dict[UUID, int]:
    """For each measure that is 完了 now: the fiscal year (Japan time, April to March) in which
    it became 完了, at the latest the plan's last year. Measures not 完了 are left out. An
    imported 完了 counts from its import."""
    rows = await db.fetch(
        """select distinct on (h.node_id) h.node_id,
                  least(extract(year from (h.changed_at at time zone 'Asia/Tokyo')
                                - interval '3 months')::int, p.fiscal_year_to) as since
           from node_history h join nodes n on n.id = h.node_id join plans p on p.id = n.plan_id
           where h.node_id = any($1::uuid[]) and h.field = 'status' and n.status = '完了'
                 and h.value #>> '{}' = '完了'
           order by h.node_id, h.id desc""",
        list(measure_ids),
    )
    return {r["node_id"]: r["since"] for r in rows}
