"""Export of a stored plan back to the plan file format (the inverse of the importer).

The tree, owners, goals, schedule, lineage, statuses and published grades come from the tables
(so edits made through the API are exported); what the file says beyond them is kept in
``plans.document``. Indicators belong to the indicators service: the plans export leaves
``indicators`` empty and an export step of that service fills it in.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import asyncpg

from suishin.contracts.planfile import PlanFile
from suishin.kit.errors import NotFound
from suishin.plans import storage
from suishin.plans.storage import Executor


async def export_plan_data(db: Executor, tenant: str, plan_key: str) -> dict[str, Any]:
    """The plan as plan-file data (plain dicts, the format's field names)."""
    plan = await storage.plans.plan_by_key(db, tenant, plan_key)
    if plan is None:
        raise NotFound("計画", "Plan", f"{tenant}/{plan_key}")
    data: dict[str, Any] = copy.deepcopy(plan["document"])
    plan_data: dict[str, Any] = data.setdefault("plan", {})
    plan_data.update(
        {
            "key": plan["key"],
            "title": plan["title"],
            "kind": plan["kind"],
            "period": {"start": plan["fiscal_year_from"], "end": plan["fiscal_year_to"]},
            "phase": plan["phase"],
            "edition": plan["edition"],
            "predecessor": plan["predecessor_key"],
            "parent_plan": plan["parent_plan_key"],
            "state": plan["state"],
            "level_labels": list(plan["level_labels"]),
            "published_on": plan["published_on"],
        }
    )
    for name in ("phase", "edition", "predecessor", "parent_plan", "published_on"):
        if plan_data[name] is None:
            del plan_data[name]
    rows = await storage.nodes.nodes_of_plans(db, [plan["id"]])
    data["nodes"] = await _tree(db, rows)
    grades = await storage.grades.published_grades_of_plan(db, plan["id"])
    if grades:
        evaluations = data.setdefault("published_evaluations", {})
        evaluations["grades"] = [
            {
                k: v
                for k, v in {
                    "path": g["path"],
                    "fiscal_year": g["fiscal_year"],
                    "grade": g["grade"],
                    "printed": g["printed"],
                    "source": g["source"],
                    "notes": g["notes"] or None,
                }.items()
                if v is not None
            }
            for g in grades
        ]
    reports = await storage.reports.published_reports_of_plan(db, plan["id"])
    if reports:
        data["progress_reports"] = [_progress_report(r) for r in reports]
    return data


def _progress_report(r: asyncpg.Record) -> dict[str, Any]:
    """A published progress report as plan-file data (absent fields left out)."""
    adherence = [
        {k: v for k, v in a.items() if v is not None and not (k == "track" and v == "")}
        for a in r["adherence"]
    ]
    out: dict[str, Any] = {
        "path": r["path"],
        "period": r["period"],
        "results": r["results"],
        "issues": r["issues"] or None,
        "direction": r["direction"] or None,
        "grade": r["grade"],
        "adherence": adherence or None,
        "source": (r["extra"] or {}).get("source"),
        "notes": (r["extra"] or {}).get("notes"),
    }
    return {k: v for k, v in out.items() if v is not None}


async def export_plan_file(db: Executor, tenant: str, plan_key: str) -> PlanFile:
    """The plan as a validated :class:`PlanFile` (indicators empty)."""
    return PlanFile.model_validate(await export_plan_data(db, tenant, plan_key))


async def _tree(db: Executor, rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
    node_ids = [r["id"] for r in rows]
    owners = _group(await storage.nodes.owner_rows_of(db, node_ids))
    goals = _group(await storage.nodes.goals_with_paths_of(db, node_ids))
    schedule = _group(await storage.nodes.schedule_of(db, node_ids))
    lineage = _group(await storage.nodes.lineage_of(db, node_ids))
    children: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    built: dict[Any, dict[str, Any]] = {}
    for r in rows:  # sort_key order: parents first, siblings in printed order
        node: dict[str, Any] = {
            "code": r["code"],
            "normalized_code": r["normalized_code"],
            "kind": r["kind"],
            "level": r["level"],
            "title": r["title"],
        }
        if r["description"] is not None:
            node["description"] = r["description"]
        own = owners.get(r["id"], [])
        if own:
            node["owners"] = [o["department_code"] for o in own]
            lead = next((o["department_code"] for o in own if o["is_lead"]), None)
            if lead is not None:
                node["lead"] = lead
        if r["others_text"] is not None:
            node["others_text"] = r["others_text"]
        node_goals = goals.get(r["id"], [])
        primary = [g["goal_path"] for g in node_goals if g["is_primary"]]
        related = [g["goal_path"] for g in node_goals if not g["is_primary"]]
        if primary:
            node["primary_goal"] = primary[0]
        if related:
            node["related_goals"] = related
        if r["tags"]:
            node["tags"] = list(r["tags"])
        sched = schedule.get(r["id"], [])
        if sched:
            node["schedule"] = [
                {
                    "fiscal_year": s["fiscal_year"],
                    "label": s["label"],
                    "phase": s["phase"],
                    **({"track": s["track"]} if s["track"] else {}),
                    **(s["extra"] or {}),
                }
                for s in sched
            ]
        if r["status"] is not None:
            node["status"] = r["status"]
        lin = lineage.get(r["id"], [])
        if lin:
            node["lineage"] = [
                {
                    k: v
                    for k, v in {
                        "kind": x["kind"],
                        "from_plan": x["from_plan_key"],
                        "from_path": x["from_path"],
                        "note": x["note"],
                    }.items()
                    if v is not None
                }
                | (x["extra"] or {})
                for x in lin
            ]
        node.update(r["attributes"] or {})
        built[r["id"]] = node
        children[r["parent_id"]].append(node)
    for node_id, node in built.items():
        kids = children.get(node_id)
        if kids:
            node["children"] = kids
    return children.get(None, [])


def _group(rows: list[asyncpg.Record]) -> dict[Any, list[asyncpg.Record]]:
    out: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        out[r["node_id"]].append(r)
    return out
