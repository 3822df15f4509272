"""Indicator definitions back to the plan file format (the indicators step of ``suishin export``).

An indicator imported from a plan file is written back as the file had it, with what changed
since laid over it: targets revised since (new value, plus a ``target_revisions`` entry with the
reason and date) and actuals reported since (added to ``actuals``; a corrected value replaces the
printed one). Importing a file and exporting it without changes gives the same file back.
Indicators defined through GraphQL are written from the database when their links name node
paths of the plan.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from suishin.indicators import storage

Executor = Any
"""A connection or a pool: both have ``fetch``."""


async def export_indicator_data(db: Executor, tenant: str, plan_key: str) -> list[dict[str, Any]]:
    """The plan's indicators as plan-file data (``PlanFile.indicators``), in file order."""
    rows = await storage.indicators.plan_rows(db, tenant, plan_key)
    if not rows:
        return []
    ids = [r["id"] for r in rows]
    children: dict[UUID, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        if r["parent_id"] is not None:
            children[r["parent_id"]].append(r)
    history = defaultdict(list, await storage.targets.target_history(db, ids))
    paths = defaultdict(list, await storage.links.node_paths(db, ids))
    current = defaultdict(list, await storage.measurements.current_for_export(db, ids))

    out: list[dict[str, Any]] = []
    for r in rows:
        if r["parent_id"] is not None:
            continue
        entry = dict(r["plan_file_entry"]) if r["plan_file_entry"] else _from_database(r, paths)
        if entry is None:
            continue
        series = [(None, r["id"]), *((c["sub_series_key"], c["id"]) for c in children[r["id"]])]
        targets = [(sub, t) for sub, i in series for t in history[i] if t["superseded_at"] is None]
        revisions = [
            (sub, old, new)
            for sub, i in series
            for old, new in zip(history[i], history[i][1:], strict=False)
            if _same_slot(old, new)
        ]
        observed = [(sub, m) for sub, i in series for m in current[i]]
        _put(entry, "targets", _targets(entry.get("targets", []), targets))
        _put(entry, "target_revisions", _revisions(entry.get("target_revisions", []), revisions))
        _put(entry, "actuals", _actuals(entry.get("actuals", []), observed))
        out.append(entry)
    return out


def _put(entry: dict[str, Any], name: str, items: list[dict[str, Any]]) -> None:
    if items:
        entry[name] = items
    else:
        entry.pop(name, None)


def _from_database(r: asyncpg.Record, paths: dict[UUID, list[str]]) -> dict[str, Any] | None:
    nodes = paths.get(r["id"])
    if not nodes:
        return None  # a plan file needs the node paths it measures
    entry: dict[str, Any] = {
        "key": r["key"],
        "title": r["title"],
        "nodes": nodes,
        "polarity": r["polarity"],
        "aggregation": r["aggregation"],
        "granularity": r["granularity"],
        "owners": list(r["owner_departments"]),
        "qualitative": r["qualitative"],
        "milestone": r["milestone"],
    }
    if r["cadence"] != "none":
        entry["cadence"] = r["cadence"]
    for name, value in (
        ("unit", r["unit"]),
        ("description", r["description"]),
        ("source", r["source"]),
        ("tolerance", _number(r["tolerance"])),
    ):
        if value is not None:
            entry[name] = value
    baseline = {
        k: v
        for k, v in {
            "value": _number(r["baseline_value"]),
            "text": r["baseline_text"],
            "source": r["baseline_source"],
        }.items()
        if v is not None
    }
    period = r["baseline_period"]
    if period:
        if period.startswith("FY"):
            baseline["fiscal_year"] = int(period[2:])
        else:
            baseline["as_of"] = period
    if baseline:
        entry["baseline"] = baseline
    return entry


# --- targets ------------------------------------------------------------------------------------


def _slot(fy: Any, from_fy: Any, sub: Any) -> tuple[int, int | None, str | None]:
    return int(fy), (int(from_fy) if from_fy is not None else None), sub


def _value(value: Any, comparator: Any, text: Any) -> tuple[Decimal | None, str | None, str | None]:
    number = None if value is None else Decimal(str(value))
    return number, comparator or None, text or None


def _targets(
    written: list[dict[str, Any]], stored: list[tuple[str | None, asyncpg.Record]]
) -> list[dict[str, Any]]:
    now = {
        _slot(t["fiscal_year"], t["from_fiscal_year"], sub): (
            _value(t["value"], t["comparator"], t["text"]),
            t,
        )
        for sub, t in stored
    }
    out: list[dict[str, Any]] = []
    seen: set[tuple[int, int | None, str | None]] = set()
    for t in written:
        slot = _slot(t["fiscal_year"], t.get("from_fiscal_year"), t.get("sub_series"))
        seen.add(slot)
        if slot not in now:
            continue  # closed since
        value, row = now[slot]
        if value == _value(t.get("value"), t.get("comparator"), t.get("text")):
            out.append(t)
        else:
            out.append(_target_of(row, slot))
    for slot, (_, row) in sorted(now.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
        if slot not in seen:
            out.append(_target_of(row, slot))
    return out


def _target_of(row: asyncpg.Record, slot: tuple[int, int | None, str | None]) -> dict[str, Any]:
    target: dict[str, Any] = {"fiscal_year": slot[0]}
    if slot[1] is not None:
        target["from_fiscal_year"] = slot[1]
    target |= _target_value(row)
    if slot[2] is not None:
        target["sub_series"] = slot[2]
    if row["printed"]:
        target["printed"] = row["printed"]
    return target


def _target_value(row: asyncpg.Record) -> dict[str, Any]:
    return {
        k: v
        for k, v in {
            "comparator": row["comparator"],
            "value": _number(row["value"]),
            "text": row["text"],
        }.items()
        if v is not None
    }


def _same_slot(a: asyncpg.Record, b: asyncpg.Record) -> bool:
    return (a["fiscal_year"], a["from_fiscal_year"]) == (b["fiscal_year"], b["from_fiscal_year"])


def _revisions(
    written: list[dict[str, Any]],
    stored: list[tuple[str | None, asyncpg.Record, asyncpg.Record]],
) -> list[dict[str, Any]]:
    """The file's revisions, then those made since (found by their old and new values)."""

    def key(fy: Any, sub: Any, old: Any, new: Any) -> tuple[Any, ...]:
        return (int(fy), sub, old, new)

    known = {
        key(
            r["fiscal_year"],
            r.get("sub_series"),
            _value(r["old"].get("value"), r["old"].get("comparator"), r["old"].get("text")),
            _value(r["new"].get("value"), r["new"].get("comparator"), r["new"].get("text")),
        )
        for r in written
    }
    out = list(written)
    for sub, old, new in stored:
        k = key(
            new["fiscal_year"],
            sub,
            _value(old["value"], old["comparator"], old["text"]),
            _value(new["value"], new["comparator"], new["text"]),
        )
        if k in known:
            continue
        revision: dict[str, Any] = {
            "fiscal_year": new["fiscal_year"],
            "old": _target_value(old),
            "new": _target_value(new),
            "revised_on": new["valid_from"].date().isoformat(),
        }
        if new["reason"]:
            revision["reason"] = new["reason"]
        if sub is not None:
            revision["sub_series"] = sub
        out.append(revision)
    return out


# --- actuals ------------------------------------------------------------------------------------


def _actuals(
    written: list[dict[str, Any]], stored: list[tuple[str | None, asyncpg.Record]]
) -> list[dict[str, Any]]:
    now = {(m["period"], sub): m for sub, m in stored}
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str | None]] = set()
    for a in written:
        k = (a["period"], a.get("sub_series"))
        seen.add(k)
        m = now.get(k)
        if m is None or _value(m["value"], None, m["text_value"]) == _value(
            a.get("value"), None, a.get("text")
        ):
            out.append(a)
        else:
            out.append(_actual_of(m, k[1]))
    for k, m in now.items():
        if k not in seen:
            out.append(_actual_of(m, k[1]))
    return out


def _actual_of(m: asyncpg.Record, sub: str | None) -> dict[str, Any]:
    actual: dict[str, Any] = {"period": m["period"]}
    if m["value"] is not None:
        actual["value"] = _number(m["value"])
    if m["text_value"] is not None:
        actual["text"] = m["text_value"]
    actual["source"] = m["source"]
    if sub is not None:
        actual["sub_series"] = sub
    return actual


def _number(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)
