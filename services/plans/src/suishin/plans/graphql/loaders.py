"""Per-request DataLoaders: one query per kind of data and request, never one per row.

A field reading a loader resolves synchronously when the loader already holds its value
(:func:`when_loaded`): a plan's tree prefetches what the selection below it reads, one batch per
kind of data for every node (:meth:`Loaders.prefetch_tree`), so that the fields of its nodes and
measures then cost no awaits, tasks or further round trips.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from strawberry.dataloader import DataLoader

from suishin.kit.graphql import ServiceContext
from suishin.kit.loading import AnyInfo, names_below
from suishin.plans import storage
from suishin.plans.domain.reports import COUNTING

REPORT_COUNTING = sorted(s.value for s in COUNTING)

K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")

# What the fields of nodes and measures read per node (GraphQL field name -> loaders).
READS: dict[str, tuple[str, ...]] = {
    "owners": ("owners",),
    "schedule": ("schedule",),
    "lineage": ("lineage",),
    "successors": ("successors",),
    "goals": ("goals",),
    "grades": ("grades", "published_grades"),
    "history": ("history",),
    "gradeHistory": ("grade_history",),
    "indicatorInputs": ("indicator_statuses",),
    "goalStatuses": ("indicator_statuses",),
    "reportingOwners": ("ownership",),
    "progressReports": ("reports",),
    "currentReport": ("reports",),
    "yearlyStatus": ("grades", "report_status"),
}

# What the fields of a progress report read (prefetched for the reports of a tree).
REPORT_READS: dict[str, tuple[str, ...]] = {
    "adherence": ("report_adherence",),
    "evidence": ("report_evidence",),
    "transitions": ("report_transitions",),
}


@dataclass
class PlanTree:
    """All nodes of one plan, indexed for the tree fields."""

    nodes: list[asyncpg.Record]
    by_id: dict[UUID, asyncpg.Record]
    children: dict[UUID | None, list[asyncpg.Record]]
    by_path: dict[str, asyncpg.Record]


def _tree(rows: Sequence[asyncpg.Record]) -> PlanTree:
    children: dict[UUID | None, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:  # rows come in sort_key order, so children keep the printed order
        children[row["parent_id"]].append(row)
    return PlanTree(list(rows), {r["id"]: r for r in rows}, children, {r["path"]: r for r in rows})


def _grouped(rows: Sequence[asyncpg.Record], key: str) -> dict[Any, list[asyncpg.Record]]:
    out: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    for row in rows:
        out[row[key]].append(row)
    return out


class Loaders:
    """The loaders of one request (kept in ``ServiceContext.loaders``)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.plan = DataLoader(self._plans)
        self.plan_by_key = DataLoader(self._plans_by_key)
        self.tree = DataLoader(self._trees)
        self.node = DataLoader(self._nodes)
        self.owners = self._many(storage.nodes.owners_of, "node_id")
        self.goals = self._many(storage.nodes.goals_of, "node_id")
        self.schedule = self._many(storage.nodes.schedule_of, "node_id")
        self.lineage = self._many(storage.nodes.lineage_of, "node_id")
        self.successors = self._many(storage.nodes.successors_of, "from_node_id")
        self.history = self._many(storage.history.history_of, "node_id")
        self.grades = self._many(storage.grades.grades_of, "measure_id")
        self.published_grades = self._many(storage.grades.published_grades_of, "measure_id")
        self.grade_history = self._many(storage.history.grade_history_of, "measure_id")
        self.indicator_statuses = self._many(storage.grades.indicator_statuses_of, "node_id")
        # Progress reports: every version per measure; details per report version.
        self.reports = self._many(storage.reports.reports_of_measures, "measure_id")
        self.report_adherence = self._many(storage.reports.adherence_of, "report_id")
        self.report_evidence = self._many(storage.reports.evidence_of, "report_id")
        self.report_transitions = self._many(storage.reports.transitions_of, "report_id")
        self.report_status = self._many(self._report_status, "measure_id")
        self.scale = DataLoader(self._scales)
        self.plan_scale = DataLoader(self._plan_scales)
        self.measure_count = DataLoader(self._measure_counts)
        self.ownership = DataLoader(self._ownership)

    def _many(
        self,
        fetch: Callable[[Any, Sequence[UUID]], Awaitable[list[asyncpg.Record]]],
        key: str,
    ) -> DataLoader[UUID, list[asyncpg.Record]]:
        async def load(ids: list[UUID]) -> list[list[asyncpg.Record]]:
            grouped = _grouped(await fetch(self.pool, ids), key)
            return [grouped.get(i, []) for i in ids]

        return DataLoader(load)

    async def prefetch_tree(self, info: AnyInfo, tree: PlanTree) -> None:
        """Load what the selection below the field ``info`` resolves (nodes of ``tree``, their
        children and measures) will read: one batch per kind of data for every node."""
        names = names_below(info)
        wanted = sorted({name for field_name in names for name in READS.get(field_name, ())})
        ids = [row["id"] for row in tree.nodes]
        loads: list[Awaitable[Any]] = [getattr(self, name).load_many(ids) for name in wanted]
        if ("grades" in names or "yearlyStatus" in names or "gradeLabel" in names) and tree.nodes:
            loads.append(self.plan_scale.load(tree.nodes[0]["plan_id"]))
        if loads:
            await asyncio.gather(*loads)
        # The reports' own lists (adherence, evidence, transitions), for every report loaded.
        details = sorted(
            {name for field_name in names for name in REPORT_READS.get(field_name, ())}
        )
        if details and "reports" in wanted:
            report_ids = [r["id"] for rows in await self.reports.load_many(ids) for r in rows]
            await asyncio.gather(*(getattr(self, n).load_many(report_ids) for n in details))

    @staticmethod
    async def _report_status(db: Any, ids: Sequence[UUID]) -> list[asyncpg.Record]:
        return await storage.reports.counting_adherence(db, ids, REPORT_COUNTING)

    async def _plans(self, ids: list[UUID]) -> list[asyncpg.Record | None]:
        rows = {r["id"]: r for r in await storage.plans.plans_by_ids(self.pool, ids)}
        return [rows.get(i) for i in ids]

    async def _plans_by_key(self, keys: list[tuple[str, str]]) -> list[asyncpg.Record | None]:
        rows = {
            (r["tenant"], r["key"]): r for r in await storage.plans.plans_by_keys(self.pool, keys)
        }
        return [rows.get(k) for k in keys]

    async def _trees(self, plan_ids: list[UUID]) -> list[PlanTree]:
        grouped = _grouped(await storage.nodes.nodes_of_plans(self.pool, plan_ids), "plan_id")
        return [_tree(grouped.get(i, [])) for i in plan_ids]

    async def _nodes(self, ids: list[UUID]) -> list[asyncpg.Record | None]:
        rows = {r["id"]: r for r in await storage.nodes.nodes_by_ids(self.pool, ids)}
        return [rows.get(i) for i in ids]

    async def _scales(self, tenants: list[str]) -> list[Any]:
        return [await storage.tenants.tenant_scale(self.pool, t) for t in tenants]

    async def _plan_scales(self, plan_ids: list[UUID]) -> list[Any]:
        return list(await storage.tenants.plan_scales(self.pool, plan_ids))

    async def _ownership(self, ids: list[UUID]) -> list[Any]:
        rows = await storage.nodes.ownership_contexts(self.pool, ids)
        return [rows.get(i) for i in ids]

    async def _measure_counts(self, plan_ids: list[UUID]) -> list[int]:
        counts = await storage.plans.measure_counts(self.pool, plan_ids)
        return [counts.get(i, 0) for i in plan_ids]


def loaders_of(ctx: ServiceContext) -> Loaders:
    found = ctx.loaders.get("plans")
    if found is None:
        found = ctx.loaders["plans"] = Loaders(ctx.runtime.pool)
    assert isinstance(found, Loaders)
    return found
