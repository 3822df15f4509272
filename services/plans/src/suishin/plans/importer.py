"""Import of a plan file into the plans schema: atomic, idempotent, updating in place.

:func:`import_plan_file` writes the tenant, its departments, the plan, the node tree (owners,
goals, schedule, lineage) and the published grades in one transaction. Ids are deterministic
(:mod:`suishin.contracts.ids`), so a re-import finds every row again and writes only what
differs: re-importing the same file changes nothing (no history rows, no events). A status that
differs from the stored one is a real change: it gets a history row and a
``measure.status_changed`` event through the outbox. Nodes that are no longer in the file are
deleted (the file is the plan's source of truth). The first import records each initial status
in the history without an event (a measure being created is not a status change).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from pydantic import BaseModel

from suishin.contracts import ids
from suishin.contracts.enums import MeasureStatus
from suishin.contracts.planfile import Node, PlanFile, PublishedProgressReport, plan_file_data
from suishin.kit.clock import SystemClock
from suishin.kit.errors import DomainError
from suishin.plans import commands, storage
from suishin.plans.domain.grading import scale_from_plan_file
from suishin.plans.domain.reimport import (
    ImportConflict,
    ImportConflicts,
    SystemChange,
    conflicts_for,
)
from suishin.plans.domain.tree import NodeSpec, validate_tree
from suishin.plans.storage import Conn

Progress = Callable[[str, int, int], None]
"""Called as ``progress(step, done, total)`` while importing."""

IMPORTER = "import"

# Node fields kept in columns or child tables; every other field goes to ``attributes``.
_NODE_COLUMNS = {
    "code",
    "normalized_code",
    "kind",
    "level",
    "title",
    "description",
    "owners",
    "lead",
    "others_text",
    "primary_goal",
    "related_goals",
    "tags",
    "schedule",
    "status",
    "lineage",
    "children",
}


class ImportRefused(DomainError):
    """The plan file breaks the plans service's rules; nothing was written."""

    def __init__(self, errors: list[DomainError]) -> None:
        super().__init__(
            "IMPORT_REFUSED",
            f"計画ファイルに{len(errors)}件の問題があるため取り込みませんでした",
            f"The plan file has {len(errors)} problem(s); nothing was imported",
        )
        self.errors = errors


@dataclass
class ImportReport:
    tenant: str
    plan_key: str
    plan_id: UUID
    plan_created: bool = False
    plan_updated: bool = False
    departments_written: int = 0
    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_deleted: int = 0
    nodes_unchanged: int = 0
    status_changes: int = 0
    history_rows: int = 0
    events: int = 0
    published_grades_written: int = 0
    progress_reports_written: int = 0
    details: list[str] = field(default_factory=list)
    conflicts: list[ImportConflict] = field(default_factory=list)
    """Values changed in the system since the last import that the file overwrote (only with
    ``overwrite=True``; without it, conflicts refuse the import)."""

    @property
    def changed(self) -> bool:
        return bool(
            self.plan_created
            or self.plan_updated
            or self.departments_written
            or self.nodes_created
            or self.nodes_updated
            or self.nodes_deleted
            or self.published_grades_written
            or self.progress_reports_written
            or self.events
        )

    def summary(self) -> str:
        if not self.changed:
            return f"{self.tenant}/{self.plan_key}: 変更なし (unchanged)"
        overwritten = (
            f", {len(self.conflicts)} system change(s) overwritten" if self.conflicts else ""
        )
        return (
            f"{self.tenant}/{self.plan_key}: nodes {self.nodes_created} created, "
            f"{self.nodes_updated} updated, {self.nodes_deleted} deleted, "
            f"{self.nodes_unchanged} unchanged; status changes {self.status_changes}, "
            f"events {self.events}, departments {self.departments_written}, "
            f"published grades {self.published_grades_written}, "
            f"progress reports {self.progress_reports_written}{overwritten}"
        )


# --- rules checked before writing ---------------------------------------------------------------


def check_plan_file(
    plan_file: PlanFile, known_departments: Iterable[str] = ()
) -> list[DomainError]:
    """The plans service's own rules over a (validated) plan file; every problem is returned.

    The plan file loader already checks these; the importer checks again so that a file built
    in code (or by an older loader) can never half-write the tree.
    """
    specs: list[NodeSpec] = []
    errors: list[DomainError] = []
    departments = {d.code for d in plan_file.departments} | set(known_departments)
    for path, parent, node in plan_file.iter_nodes():
        goals = tuple(g for g in (node.primary_goal, *node.related_goals) if g)
        specs.append(NodeSpec(path, parent, node.code, node.key, goals, where=path))
        for code in [*node.owners, *(o for t in node.tracks for o in t.owners)]:
            if code not in departments:
                errors.append(
                    DomainError(
                        "UNKNOWN_DEPARTMENT",
                        f"部署「{code}」が登録されていません（{path}）",
                        f"unknown department {code!r} ({path})",
                        field=path,
                    )
                )
        if node.lead is not None and node.lead not in node.owners:
            errors.append(
                DomainError(
                    "LEAD_NOT_OWNER",
                    f"主担当「{node.lead}」が担当部署にありません（{path}）",
                    f"lead {node.lead!r} is not an owner ({path})",
                    field=path,
                )
            )
    errors.extend(validate_tree(specs))
    paths = {s.path for s in specs}
    if plan_file.published_evaluations:
        for g in plan_file.published_evaluations.grades:
            if g.path not in paths:
                errors.append(
                    DomainError(
                        "UNKNOWN_NODE",
                        f"評価の対象ノード「{g.path}」がありません",
                        f"published grade for unknown node {g.path!r}",
                        field=g.path,
                    )
                )
    return errors


# --- desired state from the file ----------------------------------------------------------------


@dataclass
class _NodeRow:
    id: UUID
    parent_id: UUID | None
    path: str
    depth: int
    position: int
    sort_key: str
    kind: str
    level: int
    code: str
    normalized_code: str
    title: str
    description: str | None
    status: str | None
    others_text: str | None
    tags: list[str]
    attributes: dict[str, Any]

    def columns(self) -> tuple[Any, ...]:
        return (
            self.parent_id,
            self.path,
            self.depth,
            self.position,
            self.sort_key,
            self.kind,
            self.level,
            self.code,
            self.normalized_code,
            self.title,
            self.description,
            self.others_text,
            self.tags,
            self.attributes,
        )


_SCHEDULE_COLUMNS = {"fiscal_year", "track", "label", "phase"}
_LINEAGE_COLUMNS = {"kind", "from_plan", "from_path", "note"}


def _extra(model: BaseModel, columns: set[str]) -> dict[str, Any]:
    """The fields of ``model`` that have no column (kept for a faithful export)."""
    data = model.model_dump(mode="json", exclude_defaults=True, exclude=columns)
    return dict(sorted(data.items()))


def _attributes(node: Node) -> dict[str, Any]:
    data = node.model_dump(mode="json", exclude_defaults=True, exclude=_NODE_COLUMNS)
    return dict(sorted(data.items()))


def _desired_nodes(plan_file: PlanFile) -> list[tuple[_NodeRow, Node]]:
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    out: list[tuple[_NodeRow, Node]] = []
    sort_keys: dict[str | None, str] = {None: ""}
    counters: dict[str | None, int] = defaultdict(int)
    for path, parent, node in plan_file.iter_nodes():
        position = counters[parent]
        counters[parent] += 1
        prefix = sort_keys[parent]
        sort_key = f"{prefix}.{position:05d}" if prefix else f"{position:05d}"
        sort_keys[path] = sort_key
        out.append(
            (
                _NodeRow(
                    id=ids.node_id(tenant, key, path),
                    parent_id=ids.node_id(tenant, key, parent) if parent else None,
                    path=path,
                    depth=path.count("/"),
                    position=position,
                    sort_key=sort_key,
                    kind=node.kind.value,
                    level=node.level,
                    code=node.code,
                    normalized_code=node.key,
                    title=node.title,
                    description=node.description,
                    status=node.status.value if node.status else None,
                    others_text=node.others_text,
                    tags=list(node.tags),
                    attributes=_attributes(node),
                ),
                node,
            )
        )
    return out


def _document(plan_file: PlanFile) -> dict[str, Any]:
    """What the file says beyond the modelled columns and tables (for a faithful export)."""
    data = plan_file_data(plan_file)
    data.pop("nodes", None)
    data.pop("indicators", None)
    data.pop("format_version", None)
    evaluations = data.get("published_evaluations")
    if isinstance(evaluations, dict):
        evaluations.pop("grades", None)
    data.pop("progress_reports", None)  # stored as published progress reports
    return data


def _scale_json(plan_file: PlanFile) -> dict[str, Any] | None:
    scale = plan_file.grading_scale
    if scale is None:
        return None
    return scale_from_plan_file(
        plan_file.tenant.slug, scale.description or f"{plan_file.tenant.name} 評価", scale
    ).to_json()


# --- the import ---------------------------------------------------------------------------------


async def import_plan_file(
    pool_or_conn: asyncpg.Pool | Conn,
    plan_file: PlanFile,
    *,
    progress: Progress | None = None,
    source: str | None = None,
    overwrite: bool = False,
) -> ImportReport:
    """Import ``plan_file`` atomically; raise :class:`ImportRefused` (nothing written) when it
    breaks a rule, and :class:`ImportConflicts` (nothing written) when it would overwrite values
    changed in the system since the last import, unless ``overwrite`` confirms that the file
    wins. ``source`` names the file in history reasons."""
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await _import(conn, plan_file, progress, source, overwrite)
    return await _import(pool_or_conn, plan_file, progress, source, overwrite)


async def find_import_conflicts(
    pool_or_conn: asyncpg.Pool | Conn, plan_file: PlanFile
) -> list[ImportConflict]:
    """What importing ``plan_file`` would overwrite of the work done in the system (reads
    only)."""
    if isinstance(pool_or_conn, asyncpg.Pool):
        async with pool_or_conn.acquire() as conn:
            return await find_import_conflicts(conn, plan_file)
    async with pool_or_conn.transaction(readonly=True):
        return await _conflicts(pool_or_conn, plan_file, _desired_nodes(plan_file))


async def _conflicts(
    conn: Conn, plan_file: PlanFile, desired: list[tuple[_NodeRow, Node]]
) -> list[ImportConflict]:
    plan_id = plan_file.plan_id()
    out: list[ImportConflict] = []
    existing_plan = await storage.plans.plan_state(conn, plan_id)
    if existing_plan is None:
        return out
    plan_changes = [
        SystemChange(r["field"], r["changed_by"], r["changed_at"])
        for r in await storage.imports.plan_system_changes(conn, plan_id)
    ]
    out += conflicts_for(
        "", {"state": plan_file.plan.state.value}, {"state": existing_plan["state"]}, plan_changes
    )
    changed = await storage.imports.system_changes(conn, plan_id)
    if not changed:
        return out
    existing = await storage.imports.plan_nodes(conn, plan_id)
    owners = await storage.imports.owners_of_plan(conn, plan_id)
    wanted = {row.id for row, _ in desired}
    for row, node in desired:
        old = existing.get(row.id)
        if old is None or row.id not in changed:
            continue
        file_values = {
            "status": row.status,
            "title": row.title,
            "description": row.description,
            "others_text": row.others_text,
            "tags": row.tags,
            "owners": [{"department": c, "lead": c == node.lead} for c in node.owners],
        }
        system_values = {
            "status": old["status"],
            "title": old["title"],
            "description": old["description"],
            "others_text": old["others_text"],
            "tags": list(old["tags"]),
            "owners": owners.get(row.id, []),
        }
        out += conflicts_for(
            row.path,
            file_values,
            system_values,
            [SystemChange(r["field"], r["changed_by"], r["changed_at"]) for r in changed[row.id]],
        )
    for node_id, rows in changed.items():
        if node_id not in wanted and node_id in existing:
            last = max(rows, key=lambda r: r["changed_at"])
            out.append(
                ImportConflict(
                    existing[node_id]["path"],
                    "node",
                    None,
                    None,
                    last["changed_by"],
                    last["changed_at"],
                )
            )
    return out


async def _import(
    conn: Conn,
    plan_file: PlanFile,
    progress: Progress | None,
    source: str | None,
    overwrite: bool = False,
) -> ImportReport:
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    report = ImportReport(tenant, key, ids.plan_id(tenant, key))
    reason = f"計画ファイル取込（{source or key}）"
    say = progress or (lambda _step, _done, _total: None)
    async with conn.transaction():
        await storage.imports.lock_tenant(conn, tenant)
        known = await storage.tenants.department_codes_of(conn, tenant)
        errors = check_plan_file(plan_file, known)
        if errors:
            raise ImportRefused(errors)
        desired = _desired_nodes(plan_file)
        conflicts = await _conflicts(conn, plan_file, desired)
        if conflicts and not overwrite:
            raise ImportConflicts(conflicts)
        report.conflicts = conflicts
        total = len(desired)
        say("tenant", 0, total)
        await _upsert_tenant(conn, plan_file, report)
        await _upsert_departments(conn, plan_file, report)
        await _upsert_plan(conn, plan_file, report)
        await _write_nodes(conn, plan_file, desired, report, reason, say)
        await _write_children(conn, plan_file, desired, report)
        say("grades", total, total)
        await _write_published_grades(conn, plan_file, report)
        await _write_progress_reports(conn, plan_file, report, reason)
        regraded = await commands.regrade(conn, await _graded_pairs(conn, report.plan_id))
        report.events += len(regraded)
        if report.changed:
            await storage.plans.add_plan_history(
                conn,
                plan_id=report.plan_id,
                tenant=tenant,
                field="import",
                previous=None,
                value={
                    "nodes_created": report.nodes_created,
                    "nodes_updated": report.nodes_updated,
                    "nodes_deleted": report.nodes_deleted,
                    "status_changes": report.status_changes,
                },
                changed_by=IMPORTER,
                reason=reason,
                source="import",
            )
        say("done", total, total)
    return report


async def _upsert_tenant(conn: Conn, plan_file: PlanFile, report: ImportReport) -> None:
    t = plan_file.tenant
    scale = _scale_json(plan_file)
    written = await storage.tenants.upsert_tenant(conn, t.slug, t.name, t.name_en, scale)
    if written:
        report.details.append("tenant written")


async def _upsert_departments(conn: Conn, plan_file: PlanFile, report: ImportReport) -> None:
    for d in plan_file.departments:
        written = await storage.tenants.upsert_department(
            conn,
            plan_file.tenant.slug,
            d.code,
            d.name,
            d.kind.value,
            d.parent,
            list(d.aliases),
        )
        if written:
            report.departments_written += 1


async def _upsert_plan(conn: Conn, plan_file: PlanFile, report: ImportReport) -> None:
    p = plan_file.plan
    values = (
        report.plan_id,
        plan_file.tenant.slug,
        p.key,
        p.title,
        p.kind.value,
        p.period.start,
        p.period.end,
        p.phase.value if p.phase else None,
        p.edition,
        p.predecessor,
        p.parent_plan,
        p.state.value,
        list(p.level_labels),
        p.published_on,
        _document(plan_file),
        _scale_json(plan_file),
    )
    existing = await storage.plans.plan_for_update(conn, report.plan_id)
    if existing is None:
        await storage.plans.insert_plan(conn, values)
        report.plan_created = True
        return
    current = (
        existing["id"],
        existing["tenant"],
        existing["key"],
        existing["title"],
        existing["kind"],
        existing["fiscal_year_from"],
        existing["fiscal_year_to"],
        existing["phase"],
        existing["edition"],
        existing["predecessor_key"],
        existing["parent_plan_key"],
        existing["state"],
        list(existing["level_labels"]),
        existing["published_on"],
        existing["document"],
        existing["grade_scale"],
    )
    if current == values:
        return
    await storage.plans.update_plan(conn, values)
    report.plan_updated = True
    if existing["state"] != p.state.value:
        # The file's state is now the plan's: a later import compares against it.
        await storage.plans.add_plan_history(
            conn,
            plan_id=report.plan_id,
            tenant=plan_file.tenant.slug,
            field="state",
            previous=existing["state"],
            value=p.state.value,
            changed_by=IMPORTER,
            reason=f"計画ファイル取込（{p.key}）",
            source="import",
        )


async def _write_nodes(
    conn: Conn,
    plan_file: PlanFile,
    desired: list[tuple[_NodeRow, Node]],
    report: ImportReport,
    reason: str,
    say: Progress,
) -> None:
    tenant = plan_file.tenant.slug
    existing = await storage.imports.plan_nodes(conn, report.plan_id)
    wanted = {row.id for row, _ in desired}
    removed = [i for i in existing if i not in wanted]
    if removed:
        await storage.imports.delete_nodes(conn, removed)
        report.nodes_deleted = len(removed)
    inserts: list[tuple[Any, ...]] = []
    initial_history: list[tuple[Any, ...]] = []
    total = len(desired)
    for done, (row, _node) in enumerate(desired, start=1):
        if done % 200 == 0:
            say("nodes", done, total)
        old = existing.get(row.id)
        if old is None:
            inserts.append((row.id, tenant, report.plan_id, *row.columns(), row.status))
            if row.status is not None:
                initial_history.append((row.id, tenant, row.status, reason))
            continue
        before = (
            old["parent_id"],
            old["path"],
            old["depth"],
            old["position"],
            old["sort_key"],
            old["kind"],
            old["level"],
            old["code"],
            old["normalized_code"],
            old["title"],
            old["description"],
            old["others_text"],
            list(old["tags"]),
            old["attributes"],
        )
        changed = before != row.columns()
        if changed:
            await storage.imports.update_node(conn, row.id, row.columns())
            for name, prev, new in (
                ("title", old["title"], row.title),
                ("description", old["description"], row.description),
                ("others_text", old["others_text"], row.others_text),
                ("tags", list(old["tags"]), row.tags),
            ):
                if prev != new:
                    await _history(conn, row.id, tenant, name, prev, new, reason)
                    report.history_rows += 1
        if old["status"] != row.status:
            changed = True
            await _import_status(conn, old, row, reason, report)
        if changed:
            report.nodes_updated += 1
        else:
            report.nodes_unchanged += 1
    if inserts:
        await storage.imports.insert_nodes(conn, inserts)
        report.nodes_created = len(inserts)
    if initial_history:
        await storage.imports.add_initial_statuses(conn, initial_history)
        report.history_rows += len(initial_history)
    say("nodes", total, total)


async def _history(
    conn: Conn, node_id: UUID, tenant: str, name: str, prev: Any, new: Any, reason: str
) -> None:
    await storage.history.add_history(
        conn,
        node_id=node_id,
        tenant=tenant,
        field=name,
        previous=prev,
        value=new,
        changed_by=IMPORTER,
        reason=reason,
        source="import",
    )


async def _import_status(
    conn: Conn, old: asyncpg.Record, row: _NodeRow, reason: str, report: ImportReport
) -> None:
    current = MeasureStatus(old["status"]) if old["status"] else None
    if row.status is None:
        # The file no longer prints a status: keep the record of it, announce nothing.
        await storage.imports.clear_status(conn, row.id)
        await _history(conn, row.id, old["tenant"], "status", old["status"], None, reason)
        report.history_rows += 1
        return
    owners = (await commands.owners_for_reporting(conn, row.id)).codes
    measure = dict(old) | {"code": row.code, "title": row.title}
    await commands.apply_status(
        conn,
        measure,
        current,
        MeasureStatus(row.status),
        changed_by=IMPORTER,
        reason=reason,
        source="import",
        departments=owners,
    )
    report.status_changes += 1
    report.history_rows += 1
    report.events += 1


async def _write_children(
    conn: Conn, plan_file: PlanFile, desired: list[tuple[_NodeRow, Node]], report: ImportReport
) -> None:
    """Owners, goals, schedule and lineage: rewritten only for nodes whose set differs."""
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    node_ids = [row.id for row, _ in desired]

    def goal_id(path: str) -> UUID:
        return ids.node_id(tenant, key, path)

    owners_want = {
        row.id: [(code, code == node.lead, i) for i, code in enumerate(node.owners)]
        for row, node in desired
    }
    goals_want = {
        row.id: [
            (goal_id(g), j == 0 and node.primary_goal is not None, j)
            for j, g in enumerate(
                [*([node.primary_goal] if node.primary_goal else []), *node.related_goals]
            )
        ]
        for row, node in desired
    }
    schedule_want = {
        row.id: [
            (i, e.fiscal_year, e.track or "", e.label, e.phase.value, _extra(e, _SCHEDULE_COLUMNS))
            for i, e in enumerate(node.schedule)
        ]
        for row, node in desired
    }
    lineage_want = {
        row.id: [
            (
                i,
                lin.kind.value,
                lin.from_plan,
                lin.from_path,
                ids.node_id(tenant, lin.from_plan or key, lin.from_path) if lin.from_path else None,
                lin.note,
                _extra(lin, _LINEAGE_COLUMNS),
            )
            for i, lin in enumerate(node.lineage)
        ]
        for row, node in desired
    }
    tables: dict[str, dict[UUID, list[tuple[Any, ...]]]] = {
        "node_owners": owners_want,
        "node_goals": goals_want,
        "node_schedule": schedule_want,
        "node_lineage": lineage_want,
    }
    owner_history: list[tuple[UUID, Any, Any]] = []
    for table, want in tables.items():
        have = await storage.imports.child_rows(conn, table, node_ids)
        stale = [n for n in node_ids if have.get(n, []) != want.get(n, [])]
        if not stale:
            continue
        if table == "node_owners":
            owner_history = [
                (
                    n,
                    [{"department": o[0], "lead": o[1]} for o in have.get(n, [])],
                    [{"department": o[0], "lead": o[1]} for o in want.get(n, [])],
                )
                for n in stale
                if n in have  # a new node's owners are not a change
            ]
        await storage.imports.rewrite_children(conn, table, tenant, stale, want)
        report.details.append(f"{table}: {len(stale)} node(s) rewritten")
    reason = f"計画ファイル取込（{key}）"
    for node_id, prev, new in owner_history:
        await _history(conn, node_id, tenant, "owners", prev, new, reason)
        report.history_rows += 1


async def _write_published_grades(conn: Conn, plan_file: PlanFile, report: ImportReport) -> None:
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    evaluations = plan_file.published_evaluations
    want: list[tuple[Any, ...]] = []
    if evaluations is not None:
        for i, g in enumerate(evaluations.grades):
            want.append(
                (
                    ids.node_id(tenant, key, g.path),
                    i,
                    g.fiscal_year,
                    g.grade,
                    g.printed,
                    g.source,
                    [n.model_dump(mode="json", exclude_defaults=True) for n in g.notes],
                )
            )
    have = await storage.grades.published_grade_rows(conn, report.plan_id)
    if have == want:
        return
    touched = {(r[0], r[2]) for r in [*have, *want] if r[2] is not None}
    await storage.grades.replace_published_grades(conn, report.plan_id, want)
    await commands.settle_published(conn, sorted(touched, key=lambda p: (str(p[0]), p[1])))
    report.published_grades_written = len(want)


async def _graded_pairs(conn: Conn, plan_id: UUID) -> Sequence[tuple[UUID, int]]:
    """(measure, year) pairs of this plan that have indicator statuses to grade."""
    pairs = await storage.grades.measures_for_nodes(
        conn, await storage.grades.graded_node_years(conn, plan_id)
    )
    return sorted(pairs, key=lambda p: (str(p[0]), p[1]))


# --- published progress reports (進捗報告) ------------------------------------------------------


def _report_extra(r: PublishedProgressReport) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if r.source:
        extra["source"] = r.source
    if r.notes:
        extra["notes"] = [n.model_dump(mode="json", exclude_defaults=True) for n in r.notes]
    return extra


async def _write_progress_reports(
    conn: Conn, plan_file: PlanFile, report: ImportReport, reason: str
) -> None:
    """The file's published progress reports become published reports (source ``import``):
    new ones are inserted, changed ones updated, ones no longer in the file deleted; a period
    that already has a report made through the API keeps it. No events (the ward announced
    them already). Re-importing the same file changes nothing."""
    tenant, key = plan_file.tenant.slug, plan_file.plan.key
    have = {
        (r["measure_id"], r["period"]): r
        for r in await storage.reports.imported_reports_of_plan(conn, report.plan_id)
    }
    taken = await storage.reports.periods_with_reports(conn, report.plan_id)
    wanted: set[tuple[UUID, str]] = set()
    now = SystemClock().now()
    for r in plan_file.progress_reports:
        measure_id = ids.node_id(tenant, key, r.path)
        pair = (measure_id, r.period)
        wanted.add(pair)
        adherence = [[a.track, a.adherence.value, a.note] for a in r.adherence]
        extra = _report_extra(r)
        texts = {"results": r.results, "issues": r.issues or "", "direction": r.direction or ""}
        existing = have.get(pair)
        if existing is not None:
            same = (
                existing["results"],
                existing["issues"],
                existing["direction"],
                existing["grade"],
                existing["extra"],
                existing["adherence"],
            ) == (*texts.values(), r.grade, extra, adherence)
            if same:
                continue
            await storage.reports.set_imported_content(
                conn, existing["id"], grade=r.grade, extra=extra, now=now, **texts
            )
            report_id = existing["id"]
        elif pair in taken:
            continue  # the ward's staff wrote this period's report through the API
        else:
            measure = await storage.reports.measure_for_report(conn, measure_id)
            assert measure is not None  # checked: the path is a measure of the file
            row = await storage.reports.insert_report(
                conn,
                report_id=uuid4(),
                measure=measure,
                period=r.period,
                fiscal_year=int(r.period[2:6]),
                version=1,
                self_grade=r.grade,
                grade=r.grade,
                actor="import",
                now=now,
                state="published",
                source="import",
                **texts,
            )
            await storage.reports.set_extra(conn, row["id"], extra)
            await storage.reports.add_transition(
                conn,
                row,
                from_state=None,
                to_state="published",
                actor="import",
                comment=reason,
                now=now,
            )
            report_id = row["id"]
        planned = {
            (s.track or ""): s.label
            for n in [_node_at(plan_file, r.path)]
            for s in n.schedule
            if s.fiscal_year == int(r.period[2:6])
        }
        await storage.reports.replace_adherence(
            conn,
            report_id,
            [(a.track, planned.get(a.track), a.adherence.value, a.note) for a in r.adherence],
        )
        report.progress_reports_written += 1
    gone = [row["id"] for pair, row in have.items() if pair not in wanted]
    if gone:
        await storage.reports.delete_reports(conn, gone)
        report.progress_reports_written += len(gone)


def _node_at(plan_file: PlanFile, path: str) -> Node:
    for node_path, _parent, node in plan_file.iter_nodes():
        if node_path == path:
            return node
    raise KeyError(path)
