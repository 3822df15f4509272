"""SQL of the links between indicators and the plan nodes (measures, goals) they measure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg


@dataclass(frozen=True)
class Links:
    node_ids: list[UUID]
    plan_ids: list[UUID]


async def load_links(conn: asyncpg.Connection, indicator_ids: Sequence[UUID]) -> dict[UUID, Links]:
    rows = await conn.fetch(
        """select indicator_id, node_id, plan_id, node_path from indicator_links
           where indicator_id = any($1::uuid[]) order by indicator_id, node_path, node_id""",
        list(indicator_ids),
    )
    out: dict[UUID, Links] = {}
    for r in rows:
        links = out.setdefault(r["indicator_id"], Links([], []))
        links.node_ids.append(r["node_id"])
        if r["plan_id"] is not None and r["plan_id"] not in links.plan_ids:
            links.plan_ids.append(r["plan_id"])
    return out


async def replace_links(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    tenant: str,
    links: Sequence[tuple[UUID, UUID | None, str | None]],
) -> bool:
    """Make ``links`` (node id, plan id, node path) the indicator's links; True if any changed."""
    node_ids = [n for n, _, _ in links]
    removed = await conn.execute(
        "delete from indicator_links where indicator_id = $1 and node_id <> all($2::uuid[])",
        indicator_id,
        node_ids,
    )
    added = await conn.fetch(
        """insert into indicator_links (indicator_id, node_id, tenant, plan_id, node_path)
           select $1, n, $2, p, np from unnest($3::uuid[], $4::uuid[], $5::text[]) as t(n, p, np)
           on conflict (indicator_id, node_id) do update
           set plan_id = excluded.plan_id, node_path = excluded.node_path
           where (indicator_links.plan_id, indicator_links.node_path)
                 is distinct from (excluded.plan_id, excluded.node_path)
           returning node_id""",
        indicator_id,
        tenant,
        node_ids,
        [p for _, p, _ in links],
        [path for _, _, path in links],
    )
    return bool(added) or removed != "DELETE 0"


async def replace_ancestors(
    conn: asyncpg.Connection, indicator_id: UUID, tenant: str, ancestor_ids: Sequence[UUID]
) -> None:
    """Make ``ancestor_ids`` the plan nodes above the indicator's linked nodes."""
    await conn.execute(
        """delete from indicator_link_ancestors
           where indicator_id = $1 and ancestor_id <> all($2::uuid[])""",
        indicator_id,
        list(ancestor_ids),
    )
    await conn.execute(
        """insert into indicator_link_ancestors (indicator_id, ancestor_id, tenant)
           select $1, a, $2 from unnest($3::uuid[]) as t(a)
           on conflict do nothing""",
        indicator_id,
        tenant,
        list(ancestor_ids),
    )


async def node_paths(db: Any, indicator_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
    """The node paths each indicator is linked to, in order (``db``: connection or pool)."""
    out: dict[UUID, list[str]] = {}
    for link in await db.fetch(
        """select indicator_id, node_path from indicator_links
           where indicator_id = any($1::uuid[]) and node_path is not null
           order by indicator_id, node_path""",
        list(indicator_ids),
    ):
        out.setdefault(link["indicator_id"], []).append(link["node_path"])
    return out
