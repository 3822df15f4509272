"""Wards (tenants), their departments and grade scales."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from suishin.plans.domain.grading import GradeScale, default_scale_for
from suishin.plans.storage.db import Conn, Executor


async def tenant_scale(db: Executor, tenant: str) -> GradeScale:
    raw = await db.fetchval("select grade_scale from tenants where code = $1", tenant)
    return GradeScale.from_json(raw) if raw else default_scale_for(tenant)


async def plan_scale(db: Executor, plan_id: UUID) -> GradeScale:
    """The scale a plan's measures are graded on: the plan's, else the tenant's, else built-in."""
    return (await plan_scales(db, [plan_id]))[0]


async def plan_scales(db: Executor, plan_ids: Sequence[UUID]) -> list[GradeScale]:
    """:func:`plan_scale` of each plan, in order, in one query."""
    grading = await plans_grading(db, plan_ids)
    missing = [p for p in plan_ids if p not in grading]
    if missing:
        raise LookupError(f"plan {missing[0]} does not exist")
    return [grading[p].scale for p in plan_ids]


@dataclass(frozen=True)
class PlanGrading:
    """What grading a plan's measures and announcing their grades needs of the plan."""

    scale: GradeScale
    level_labels: list[str]
    default_owner: str | None


async def plans_grading(db: Executor, plan_ids: Sequence[UUID]) -> dict[UUID, PlanGrading]:
    """:class:`PlanGrading` of each plan (unknown plans are left out), in one query."""
    rows = await db.fetch(
        """select p.id, p.tenant, coalesce(p.grade_scale, t.grade_scale) as scale,
                  p.level_labels, p.document -> 'plan' ->> 'default_owner' as default_owner
           from plans p join tenants t on t.code = p.tenant where p.id = any($1::uuid[])""",
        plan_ids,
    )
    return {
        r["id"]: PlanGrading(
            GradeScale.from_json(r["scale"]) if r["scale"] else default_scale_for(r["tenant"]),
            list(r["level_labels"] or []),
            r["default_owner"],
        )
        for r in rows
    }


async def tenant_row(db: Executor, tenant: str) -> asyncpg.Record | None:
    return await db.fetchrow("select * from tenants where code = $1", tenant)


async def departments(db: Executor, tenant: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "select * from departments where tenant = $1 order by parent_code nulls first, code",
        tenant,
    )


async def department_codes(db: Executor, tenant: str, codes: Iterable[str]) -> set[str]:
    rows = await db.fetch(
        "select code from departments where tenant = $1 and code = any($2::text[])",
        tenant,
        list(codes),
    )
    return {r["code"] for r in rows}


async def department_codes_of(conn: Conn, tenant: str) -> set[str]:
    """Every department code of the ward."""
    rows = await conn.fetch("select code from departments where tenant = $1", tenant)
    return {r["code"] for r in rows}


async def upsert_tenant(
    conn: Conn, code: str, name: str, name_en: str | None, scale: dict[str, Any] | None
) -> bool:
    """Create or refresh the ward (its name; the scale only when it has none); True if written."""
    row = await conn.fetchrow(
        """insert into tenants as x (code, name, name_en, grade_scale)
           values ($1, $2, $3, $4)
           on conflict (code) do update set
               name = excluded.name, name_en = coalesce(excluded.name_en, x.name_en),
               grade_scale = coalesce(x.grade_scale, excluded.grade_scale), updated_at = now()
           where (x.name, x.name_en, x.grade_scale)
                 is distinct from (excluded.name, coalesce(excluded.name_en, x.name_en),
                                   coalesce(x.grade_scale, excluded.grade_scale))
           returning code""",
        code,
        name,
        name_en,
        scale,
    )
    return row is not None


async def upsert_department(
    conn: Conn,
    tenant: str,
    code: str,
    name: str,
    kind: str,
    parent_code: str | None,
    aliases: list[str],
) -> bool:
    """Create or refresh a department (aliases only grow); True if written."""
    written = await conn.fetchval(
        """insert into departments as d (tenant, code, name, kind, parent_code, aliases)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (tenant, code) do update set
               name = excluded.name, kind = excluded.kind,
               parent_code = coalesce(excluded.parent_code, d.parent_code),
               aliases = d.aliases || array(select a from unnest(excluded.aliases) a
                                            where a <> all(d.aliases)),
               updated_at = now()
           where (d.name, d.kind) is distinct from (excluded.name, excluded.kind)
                 or coalesce(excluded.parent_code, d.parent_code)
                    is distinct from d.parent_code
                 or not excluded.aliases <@ d.aliases
           returning true""",
        tenant,
        code,
        name,
        kind,
        parent_code,
        aliases,
    )
    return bool(written)
