"""Nodes of the plan tree (goals, measures, sub-items), their owners and children, and the
measure search with keyset pagination."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from suishin.kit.db import contains_pattern
from suishin.plans.storage.db import Conn, Executor

NODE_COLUMNS = """id, tenant, plan_id, parent_id, path, depth, position, sort_key, kind, level,
    code, normalized_code, title, description, status, others_text, tags, attributes, version,
    created_at, updated_at"""


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


async def bump_version(conn: Conn, node_id: UUID) -> int:
    version: int = await conn.fetchval(
        "update nodes set version = version + 1 where id = $1 returning version", node_id
    )
    return version


async def bump_versions(conn: Conn, steps: Mapping[UUID, int]) -> dict[UUID, int]:
    """Raise each node's version by its number of steps (one per event about it) in one
    statement; returns the new versions."""
    rows = await conn.fetch(
        """update nodes n set version = n.version + t.steps
           from unnest($1::uuid[], $2::int[]) as t(id, steps) where n.id = t.id
           returning n.id, n.version""",
        list(steps),
        list(steps.values()),
    )
    return {r["id"]: r["version"] for r in rows}


async def measures(conn: Conn, measure_ids: Sequence[UUID]) -> dict[UUID, asyncpg.Record]:
    """The measures among ``measure_ids`` by id (other nodes and unknown ids are left out)."""
    rows = await conn.fetch(
        f"select {NODE_COLUMNS} from nodes where id = any($1::uuid[]) and kind = 'measure'",
        list(measure_ids),
    )
    return {r["id"]: r for r in rows}


async def measure_with_period_for_update(conn: Conn, measure_id: UUID) -> asyncpg.Record | None:
    """A measure, locked, with its plan's period (``fy_from``, ``fy_to``)."""
    return await conn.fetchrow(
        f"""select {NODE_COLUMNS},
                   (select fiscal_year_from from plans p where p.id = n.plan_id) as fy_from,
                   (select fiscal_year_to from plans p where p.id = n.plan_id) as fy_to
            from nodes n where id = $1 and kind = 'measure' for update""",
        measure_id,
    )


async def tenants_of(db: Executor, node_ids: Sequence[UUID]) -> dict[UUID, str]:
    """The ward of each known node."""
    rows = await db.fetch("select id, tenant from nodes where id = any($1::uuid[])", node_ids)
    return {r["id"]: r["tenant"] for r in rows}


async def owner_codes(db: Executor, node_id: UUID) -> list[str]:
    """The owner department codes of a node, in printed order."""
    rows = await db.fetch(
        "select department_code from node_owners where node_id = $1 order by position", node_id
    )
    return [r["department_code"] for r in rows]


async def owner_leads(db: Executor, node_id: UUID) -> list[asyncpg.Record]:
    """(department_code, is_lead) of a node's owners, in printed order."""
    return await db.fetch(
        """select department_code, is_lead from node_owners where node_id = $1
           order by position""",
        node_id,
    )


async def owner_rows_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        "select * from node_owners where node_id = any($1::uuid[]) order by node_id, position",
        node_ids,
    )


async def goals_with_paths_of(db: Executor, node_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    """Goal links of the nodes with the goal's path (``goal_path``)."""
    return await db.fetch(
        """select g.*, n.path as goal_path from node_goals g join nodes n on n.id = g.goal_id
       where g.node_id = any($1::uuid[]) order by g.node_id, g.position""",
        node_ids,
    )


async def replace_owners(
    conn: Conn, node_id: UUID, tenant: str, owners: Sequence[tuple[str, bool]]
) -> None:
    """Replace a node's owners by (department code, is lead) pairs, in this order."""
    await conn.execute("delete from node_owners where node_id = $1", node_id)
    await conn.executemany(
        """insert into node_owners (node_id, tenant, department_code, is_lead, position)
           values ($1, $2, $3, $4, $5)""",
        [(node_id, tenant, code, lead, i) for i, (code, lead) in enumerate(owners)],
    )


async def set_status(conn: Conn, node_id: UUID, status: str | None) -> None:
    await conn.execute(
        "update nodes set status = $2, updated_at = now() where id = $1", node_id, status
    )


EDITABLE = frozenset({"title", "description", "others_text", "tags"})


async def set_field(conn: Conn, node_id: UUID, field: str, value: Any) -> None:
    """Set one editable column (:data:`EDITABLE`)."""
    if field not in EDITABLE:
        raise ValueError(f"not an editable node field: {field}")
    await conn.execute(
        f"update nodes set {field} = $2, updated_at = now() where id = $1", node_id, value
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
    framework: str | None = None
    """A national framework (``jichitai_dx``), or one of its items (``jichitai_dx:(1) …``)."""
    reporting_department: str | None = None
    """A department among those who answer for the measure (``owners_for_reporting``)."""


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
    if flt.reporting_department:
        # Who answers for the measure (domain.ownership.owners_for_reporting): the owners of
        # the nearest node with owners, the measure itself first, then its ancestors; when no
        # node of the chain names one, the plan's default owner.
        where.append(
            f"""{arg(flt.reporting_department)} = any(coalesce(
                  (select array_agg(o.department_code) from node_owners o
                   where o.node_id = (
                     with recursive up (id, parent_id, hops) as (
                         select n.id, n.parent_id, 0
                         union all
                         select a.id, a.parent_id, up.hops + 1
                         from nodes a join up on a.id = up.parent_id
                     )
                     select up.id from up
                     where exists (select 1 from node_owners w where w.node_id = up.id)
                     order by up.hops limit 1)),
                  array[(select p.document -> 'plan' ->> 'default_owner' from plans p
                         where p.id = n.plan_id)]))"""
        )
    if flt.status:
        where.append(f"n.status = {arg(flt.status)}")
    if flt.tag:
        where.append(f"{arg(flt.tag)} = any(n.tags)")
    if flt.framework:
        framework, _, item = flt.framework.partition(":")
        wanted: dict[str, str] = {"framework": framework}
        if item:
            wanted["item"] = item
        where.append(f"n.attributes -> 'frameworks' @> {arg([wanted])}::jsonb")
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


@dataclass(frozen=True)
class OwnershipRow:
    level: int
    level_labels: list[str]
    default_owner: str | None
    own: list[str]
    ancestors: list[list[str]]
    """Each ancestor's owners, nearest first (empty lists for ancestors without owners)."""


async def ownership_context(db: Executor, node_id: UUID) -> OwnershipRow | None:
    """What decides who answers for a node: its own owners, each ancestor's owners (nearest
    first), the plan's default owner and level labels, and the node's level."""
    return (await ownership_contexts(db, [node_id])).get(node_id)


async def ownership_contexts(db: Executor, node_ids: Sequence[UUID]) -> dict[UUID, OwnershipRow]:
    """:func:`ownership_context` of many nodes in two queries."""
    heads = await db.fetch(
        """select n.id, n.level, p.level_labels, p.document -> 'plan' ->> 'default_owner' as d
           from nodes n join plans p on p.id = n.plan_id where n.id = any($1::uuid[])""",
        node_ids,
    )
    chains = await owner_chains(db, node_ids)
    out: dict[UUID, OwnershipRow] = {}
    for head in heads:
        own, ancestors = chains.get(head["id"], ([], []))
        out[head["id"]] = OwnershipRow(
            level=head["level"],
            level_labels=list(head["level_labels"]),
            default_owner=head["d"],
            own=own,
            ancestors=ancestors,
        )
    return out


async def owner_chains(
    db: Executor, node_ids: Sequence[UUID]
) -> dict[UUID, tuple[list[str], list[list[str]]]]:
    """Each node's own owners and each ancestor's owners, nearest first (empty lists for
    nodes without owners), in one query."""
    rows = await db.fetch(
        """with recursive up (start, id, parent_id, hops) as (
               select id, id, parent_id, 0 from nodes where id = any($1::uuid[])
               union all
               select up.start, n.id, n.parent_id, up.hops + 1
               from nodes n join up on n.id = up.parent_id
           )
           select up.start, up.hops, o.department_code from up
           left join node_owners o on o.node_id = up.id
           order by up.start, up.hops, o.position""",
        node_ids,
    )
    chains: dict[UUID, dict[int, list[str]]] = {}
    for r in rows:
        codes = chains.setdefault(r["start"], {}).setdefault(r["hops"], [])
        if r["department_code"] is not None:
            codes.append(r["department_code"])
    return {
        start: (by_hops.get(0, []), [by_hops[h] for h in sorted(by_hops) if h > 0])
        for start, by_hops in chains.items()
    }
