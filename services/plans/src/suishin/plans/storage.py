"""SQL of the plans service (asyncpg, explicit queries; the pool's search_path is the schema)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from suishin.kit.db import contains_pattern
from suishin.plans.grading import GradeScale, default_scale_for

Conn: TypeAlias = asyncpg.Connection
Executor = Any  # a connection or a pool: both have fetch/fetchrow/fetchval/execute

PLAN_COLUMNS = """id, tenant, key, title, kind, fiscal_year_from, fiscal_year_to, phase, edition,
    predecessor_key, parent_plan_key, state, level_labels, published_on, published_at,
    superseded_at, superseded_by, document, grade_scale, created_at, updated_at"""

NODE_COLUMNS = """id, tenant, plan_id, parent_id, path, depth, position, sort_key, kind, level,
    code, normalized_code, title, description, status, others_text, tags, attributes, version,
    created_at, updated_at"""


# --- tenants and departments ------------------------------------------------------------------


async def tenant_scale(db: Executor, tenant: str) -> GradeScale:
    raw = await db.fetchval("select grade_scale from tenants where code = $1", tenant)
    return GradeScale.from_json(raw) if raw else default_scale_for(tenant)


async def plan_scale(db: Executor, plan_id: UUID) -> GradeScale:
    """The scale a plan's measures are graded on: the plan's, else the tenant's, else built-in."""
    row = await db.fetchrow(
        """select p.tenant, coalesce(p.grade_scale, t.grade_scale) as scale
           from plans p join tenants t on t.code = p.tenant where p.id = $1""",
        plan_id,
    )
    if row is None:
        raise LookupError(f"plan {plan_id} does not exist")
    return GradeScale.from_json(row["scale"]) if row["scale"] else default_scale_for(row["tenant"])


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


# --- plans --------------------------------------------------------------------------------------


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


# --- nodes --------------------------------------------------------------------------------------


async def nodes_of_plans(db: Executor, plan_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        f"select {NODE_COLUMNS} from nodes where plan_id = any($1::uuid[]) order by sort_key",
        plan_ids,
    )


async def nodes_by_ids(db: Executor, ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(f"select {NODE_COLUMNS} from nodes where id = any($1::uuid[])", ids)


async def node_for_update(conn: Conn, node_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"""select {NODE_COLUMNS}, (select state from plans p where p.id = n.plan_id) as plan_state
            from nodes n where id = $1 for update""",
        node_id,
    )


async def owners_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select o.node_id, o.department_code, o.is_lead, o.position, d.name as department_name,
                  d.parent_code
           from node_owners o
           join departments d on d.tenant = o.tenant and d.code = o.department_code
           where o.node_id = any($1::uuid[])
           order by o.node_id, o.position""",
        node_ids,
    )


async def goals_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select node_id, goal_id, is_primary, position from node_goals
           where node_id = any($1::uuid[]) order by node_id, position""",
        node_ids,
    )


async def schedule_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select node_id, position, fiscal_year, track, label, phase, extra from node_schedule
           where node_id = any($1::uuid[]) order by node_id, position""",
        node_ids,
    )


async def lineage_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select node_id, position, kind, from_plan_key, from_path, from_node_id, note, extra
           from node_lineage where node_id = any($1::uuid[]) order by node_id, position""",
        node_ids,
    )


async def successors_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    """Lineage links pointing at these nodes (where they went in later editions)."""
    return await db.fetch(
        """select l.from_node_id, l.node_id, l.kind, l.note, n.path, p.key as plan_key
           from node_lineage l join nodes n on n.id = l.node_id join plans p on p.id = n.plan_id
           where l.from_node_id = any($1::uuid[]) order by l.from_node_id, n.sort_key""",
        node_ids,
    )


async def history_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select id, node_id, field, previous, value, changed_by, reason, source, changed_at
           from node_history where node_id = any($1::uuid[]) order by node_id, id""",
        node_ids,
    )


async def grades_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from grades where measure_id = any($1::uuid[])
           order by measure_id, fiscal_year""",
        measure_ids,
    )


async def published_grades_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from published_grades where measure_id = any($1::uuid[])
           order by measure_id, position""",
        measure_ids,
    )


async def grade_history_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from grade_history where measure_id = any($1::uuid[])
           order by measure_id, id""",
        measure_ids,
    )


async def indicator_statuses_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from indicator_statuses where node_id = any($1::uuid[])
           order by node_id, fiscal_year, indicator_key""",
        measure_ids,
    )


async def bump_version(conn: Conn, node_id: UUID) -> int:
    version: int = await conn.fetchval(
        "update nodes set version = version + 1 where id = $1 returning version", node_id
    )
    return version


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


# --- measure search (connection pagination) ---------------------------------------------------


@dataclass(frozen=True)
class MeasureFilter:
    department: str | None = None
    status: str | None = None
    tag: str | None = None
    grade: str | None = None
    fiscal_year: int | None = None
    text: str | None = None


async def search_measures(
    db: Executor,
    plan_id: UUID,
    flt: MeasureFilter,
    *,
    first: int,
    after: str | None,
) -> tuple[list[asyncpg.Record], int]:
    """One page of a plan's measures in tree order, and the total matching the filter."""
    where = ["n.plan_id = $1", "n.kind = 'measure'"]
    args: list[Any] = [plan_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if flt.department:
        where.append(
            f"""exists (select 1 from node_owners o where o.node_id = n.id
                        and o.department_code = {arg(flt.department)})"""
        )
    if flt.status:
        where.append(f"n.status = {arg(flt.status)}")
    if flt.tag:
        where.append(f"{arg(flt.tag)} = any(n.tags)")
    if flt.text:
        pattern = contains_pattern(flt.text)
        where.append(f"(n.title ilike {arg(pattern)} or n.code ilike ${len(args)})")
    if flt.grade:
        year = "" if flt.fiscal_year is None else f" and g.fiscal_year = {arg(flt.fiscal_year)}"
        where.append(
            f"""exists (select 1 from grades g where g.measure_id = n.id
                        and g.effective_grade = {arg(flt.grade)}{year})"""
        )
    elif flt.fiscal_year is not None:
        fy = arg(flt.fiscal_year)
        where.append(
            f"""(exists (select 1 from node_schedule s where s.node_id = n.id
                         and s.fiscal_year = {fy} and s.phase <> 'none')
                 or exists (select 1 from grades g where g.measure_id = n.id
                            and g.fiscal_year = {fy}))"""
        )
    condition = " and ".join(where)
    total: int = await db.fetchval(f"select count(*) from nodes n where {condition}", *args)
    page_condition = condition
    if after is not None:
        page_condition += f" and n.sort_key > {arg(after)}"
    rows = await db.fetch(
        f"""select {", ".join("n." + c.strip() for c in NODE_COLUMNS.split(","))}
            from nodes n where {page_condition}
            order by n.sort_key limit {arg(first + 1)}""",
        *args,
    )
    return rows, total
