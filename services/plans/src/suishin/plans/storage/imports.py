"""The writes of a plan-file import: the per-ward lock, nodes in bulk, the child tables."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg

from suishin.plans.storage.db import Conn

# child table -> (compared columns, insert statement, whether rows carry the tenant)
CHILD_TABLES: dict[str, tuple[str, str, bool]] = {
    "node_owners": (
        "department_code, is_lead, position",
        "insert into node_owners (node_id, tenant, department_code, is_lead, position) "
        "values ($1, $2, $3, $4, $5)",
        True,
    ),
    "node_goals": (
        "goal_id, is_primary, position",
        "insert into node_goals (node_id, goal_id, is_primary, position) values ($1, $2, $3, $4)",
        False,
    ),
    "node_schedule": (
        "position, fiscal_year, track, label, phase, extra",
        "insert into node_schedule (node_id, position, fiscal_year, track, label, phase, "
        "extra) values ($1, $2, $3, $4, $5, $6, $7)",
        False,
    ),
    "node_lineage": (
        "position, kind, from_plan_key, from_path, from_node_id, note, extra",
        "insert into node_lineage (node_id, position, kind, from_plan_key, from_path, "
        "from_node_id, note, extra) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        False,
    ),
}


async def lock_tenant(conn: Conn, tenant: str) -> None:
    """Serialise the imports of one ward (a transaction-scoped advisory lock)."""
    lock = int.from_bytes(hashlib.sha256(f"import:{tenant}".encode()).digest()[:8], "big")
    await conn.execute("select pg_advisory_xact_lock($1)", lock - (1 << 63))


async def plan_nodes(conn: Conn, plan_id: UUID) -> dict[UUID, asyncpg.Record]:
    """The stored nodes of a plan by id (the columns an import compares)."""
    rows = await conn.fetch(
        """select id, parent_id, path, depth, position, sort_key, kind, level, code,
                  normalized_code, title, description, status, others_text, tags,
                  attributes, plan_id, tenant
           from nodes where plan_id = $1""",
        plan_id,
    )
    return {r["id"]: r for r in rows}


async def delete_nodes(conn: Conn, node_ids: Sequence[UUID]) -> None:
    await conn.execute("delete from nodes where id = any($1::uuid[])", node_ids)


async def update_node(conn: Conn, node_id: UUID, columns: Sequence[Any]) -> None:
    """Rewrite a node's 14 imported columns (parent, path, depth, position, sort key, kind,
    level, code, normalised code, title, description, others text, tags, attributes)."""
    await conn.execute(
        """update nodes set parent_id = $2, path = $3, depth = $4, position = $5,
               sort_key = $6, kind = $7, level = $8, code = $9, normalized_code = $10,
               title = $11, description = $12, others_text = $13, tags = $14,
               attributes = $15, updated_at = now()
           where id = $1""",
        node_id,
        *columns,
    )


async def insert_nodes(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """New nodes: (id, tenant, plan id, the 14 imported columns, status)."""
    await conn.executemany(
        """insert into nodes (id, tenant, plan_id, parent_id, path, depth, position, sort_key,
                              kind, level, code, normalized_code, title, description,
                              others_text, tags, attributes, status)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                   $17, $18)""",
        rows,
    )


async def add_initial_statuses(conn: Conn, rows: Sequence[tuple[UUID, str, str, str]]) -> None:
    """History of the first status of new nodes: (node, tenant, status, reason)."""
    await conn.executemany(
        """insert into node_history (node_id, tenant, field, previous, value, changed_by,
                                     reason, source)
           values ($1, $2, 'status', null, to_jsonb($3::text), 'import', $4, 'import')""",
        rows,
    )


async def clear_status(conn: Conn, node_id: UUID) -> None:
    """The file no longer prints a status for the node."""
    await conn.execute("update nodes set status = null where id = $1", node_id)


async def child_rows(
    conn: Conn, table: str, node_ids: Sequence[UUID]
) -> dict[UUID, list[tuple[Any, ...]]]:
    """The rows of a child table (:data:`CHILD_TABLES`) per node, compared columns only."""
    columns = CHILD_TABLES[table][0]
    have: dict[UUID, list[tuple[Any, ...]]] = defaultdict(list)
    for r in await conn.fetch(
        f"select node_id, {columns} from {table} where node_id = any($1::uuid[]) "
        "order by node_id, position",
        node_ids,
    ):
        have[r["node_id"]].append(tuple(r)[1:])
    return have


async def rewrite_children(
    conn: Conn,
    table: str,
    tenant: str,
    node_ids: Sequence[UUID],
    want: dict[UUID, list[tuple[Any, ...]]],
) -> None:
    """Replace the rows of a child table for these nodes by the wanted ones."""
    _, insert_sql, with_tenant = CHILD_TABLES[table]
    await conn.execute(f"delete from {table} where node_id = any($1::uuid[])", node_ids)
    rows = [
        (n, tenant, *values) if with_tenant else (n, *values)
        for n in node_ids
        for values in want.get(n, [])
    ]
    if rows:
        await conn.executemany(insert_sql, rows)


async def system_changes(conn: Conn, plan_id: UUID) -> dict[UUID, list[asyncpg.Record]]:
    """Per node of the plan: the fields whose latest history row came from the API (changed in
    the system since the last import), with who and when."""
    rows = await conn.fetch(
        """select node_id, field, changed_by, changed_at from (
               select distinct on (h.node_id, h.field) h.node_id, h.field, h.changed_by,
                      h.changed_at, h.source
               from node_history h join nodes n on n.id = h.node_id
               where n.plan_id = $1
               order by h.node_id, h.field, h.id desc) latest
           where source <> 'import'
           order by node_id, field""",
        plan_id,
    )
    out: dict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        out[r["node_id"]].append(r)
    return out


async def plan_system_changes(conn: Conn, plan_id: UUID) -> list[asyncpg.Record]:
    """The plan fields whose latest history row came from the API (e.g. ``state`` after a
    publish or supersede)."""
    return await conn.fetch(
        """select field, changed_by, changed_at from (
               select distinct on (field) field, changed_by, changed_at, source
               from plan_history where plan_id = $1 and field <> 'import'
               order by field, id desc) latest
           where source <> 'import'
           order by field""",
        plan_id,
    )


async def owners_of_plan(conn: Conn, plan_id: UUID) -> dict[UUID, list[dict[str, Any]]]:
    """The owners of every node of the plan, in order, as ``{"department", "lead"}``."""
    out: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for r in await conn.fetch(
        """select o.node_id, o.department_code, o.is_lead from node_owners o
           join nodes n on n.id = o.node_id where n.plan_id = $1
           order by o.node_id, o.position""",
        plan_id,
    ):
        out[r["node_id"]].append({"department": r["department_code"], "lead": r["is_lead"]})
    return out
