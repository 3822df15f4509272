"""Shaping gateway answers into what the templates show (pure functions, unit-testable)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from suishin.contracts.calendar import format_fiscal_year

JST = dt.timezone(dt.timedelta(hours=9))


def walk(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for node in nodes:
        out.append(node)
        out.extend(walk(node.get("children") or []))
    return out


def attach(plan: dict[str, Any], measures: list[dict[str, Any]]) -> dict[str, Any]:
    """Put each measure's details (owners, tags, grades) on its node of the tree."""
    by_id = {m["id"]: m for m in measures}
    for node in walk(plan.get("nodes") or []):
        details = by_id.get((node.get("measure") or {}).get("id"))
        if details is not None:
            node["measure"] = details
            node["owners"] = details.get("owners") or []
            node["tags"] = details.get("tags") or []
        else:
            node.setdefault("owners", [])
            node.setdefault("tags", [])
    return plan


def grade_of(node: dict[str, Any], year: int) -> dict[str, Any] | None:
    for grade in (node.get("measure") or {}).get("grades") or []:
        if grade.get("fiscalYear") == year:
            return dict(grade)
    return None


def grade_counts(plan: dict[str, Any]) -> tuple[list[int], list[str], dict[int, Counter[str]]]:
    """The 評価集計: per fiscal year, how many measures have each grade (labels of the scale)."""
    years = list(range(plan["fiscalYearFrom"], plan["fiscalYearTo"] + 1))
    labels = [g["label"] for g in (plan.get("gradeScale") or {}).get("grades", [])]
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for node in walk(plan.get("nodes") or []):
        if node.get("kind") != "MEASURE":
            continue
        for grade in (node.get("measure") or {}).get("grades") or []:
            if grade.get("fiscalYear") in years and grade.get("label"):
                counts[grade["fiscalYear"]][grade["label"]] += 1
    return years, labels, counts


def matches(node: dict[str, Any], filters: dict[str, str]) -> bool:
    if node.get("kind") != "MEASURE":
        return False
    department = filters.get("department")
    if department and department not in {o["departmentCode"] for o in node.get("owners", [])}:
        return False
    status = filters.get("status")
    if status and node.get("status") != status:
        return False
    tag = filters.get("tag")
    if tag and tag not in (node.get("tags") or []):
        return False
    grade = filters.get("grade")
    if grade:
        year = int(filters["year"]) if filters.get("year", "").isdigit() else None
        grades = (node.get("measure") or {}).get("grades") or []
        if not any(
            (g.get("grade") == grade or g.get("label") == grade)
            and (year is None or g.get("fiscalYear") == year)
            for g in grades
        ):
            return False
    return True


def filter_tree(nodes: list[dict[str, Any]], filters: dict[str, str]) -> list[dict[str, Any]]:
    """The tree with only the measures that match (and the groups above them)."""
    if not any(filters.get(k) for k in ("department", "status", "tag", "grade")):
        return nodes
    kept = []
    for node in nodes:
        children = filter_tree(node.get("children") or [], filters)
        if matches(node, filters):
            kept.append(node)
        elif children and node.get("kind") == "GROUP":
            kept.append({**node, "children": children})
    return kept


def departments_of(plan: dict[str, Any]) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    for node in walk(plan.get("nodes") or []):
        for owner in node.get("owners") or []:
            seen.setdefault(owner["departmentCode"], owner["departmentName"])
    return sorted(seen.items())


def current_fiscal_year(today: dt.date | None = None) -> int:
    today = today or dt.datetime.now(JST).date()
    return today.year if today.month >= 4 else today.year - 1


def next_due(indicator: dict[str, Any], today: dt.date | None = None) -> tuple[str, dt.date | None]:
    """The period a 所管課 reports next and its due date (period end + report lag)."""
    today = today or dt.datetime.now(JST).date()
    lag = dt.timedelta(days=int(indicator.get("reportLagDays") or 0))
    cadence = indicator.get("cadence")
    reported = {m["period"] for m in indicator.get("measurements") or []}
    status = indicator.get("status") or {}
    figures = status.get("figures") or {}
    if figures.get("overduePeriod"):
        due = figures.get("dueDate")
        return figures["overduePeriod"], dt.date.fromisoformat(due) if due else None
    if cadence == "MONTHLY":
        first = dt.date(today.year, today.month, 1)
        last_month_end = first - dt.timedelta(days=1)
        period = f"{last_month_end.year}-{last_month_end.month:02d}"
        if period in reported:
            nxt = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
            return f"{today.year}-{today.month:02d}", nxt + lag
        return period, last_month_end + lag
    if cadence == "NONE":
        return "-", None
    year = current_fiscal_year(today)
    previous = f"FY{year - 1}"
    start = int(indicator.get("periodStart") or year)
    if year - 1 >= start and previous not in reported:
        return previous, dt.date(year, 3, 31) + lag
    return f"FY{year}", dt.date(year + 1, 3, 31) + lag


def off_track(indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        i
        for i in indicators
        if (i.get("status") or {}).get("status") in ("OFF_TRACK", "AT_RISK", "STALE")
    ]


def overdue(indicators: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [i for i in indicators if (i.get("status") or {}).get("status") == "STALE"]


def link_target(link: str | None) -> str | None:
    """A notice's ``link`` (``Indicator:<id>``, ``Measure:<id>``) as a portal path."""
    if not link or ":" not in link:
        return None
    kind, _, ident = link.partition(":")
    paths = {"Indicator": "/indicators/", "Measure": "/measures/", "Plan": "/plans/"}
    prefix = paths.get(kind)
    return f"{prefix}{ident}" if prefix and ident else None


def focus_status(indicator: dict[str, Any]) -> dict[str, Any]:
    """The status worth explaining: the latest year with data (a red 2024 is not hidden by a
    2025 without reports yet), else the current one. Carries the year's label."""
    for point in reversed(indicator.get("series") or []):
        status = point.get("status") or {}
        if status.get("status") not in (None, "NO_DATA"):
            return {**status, "label": point.get("label") or point.get("period")}
    current = dict(indicator.get("status") or {})
    current.setdefault("label", current.get("fiscalYear"))
    return current


def published_only(plan: dict[str, Any]) -> dict[str, Any]:
    """For the public: each measure keeps only the grades the ward published (a machine grade
    computed from this year's reports is not published data)."""
    failing = {
        g["code"] for g in (plan.get("gradeScale") or {}).get("grades", []) if g["isFailing"]
    }
    for node in walk(plan.get("nodes") or []):
        measure = node.get("measure")
        if not measure or "grades" not in measure:
            continue
        measure["grades"] = [
            {
                "fiscalYear": g["fiscalYear"],
                "grade": g["publishedGrade"],
                "label": g["publishedLabel"],
                "isFailing": g["publishedGrade"] in failing,
            }
            for g in measure["grades"]
            if g.get("publishedLabel")
        ]
    return plan


def fiscal_year_text(year: Any, style: str | None = None) -> str:
    """A fiscal year in the ward's year style (``Plan.yearStyle``): 令和3年度 by default,
    FY2021 (fy), 2021年度 (western) or R3 (short)."""
    try:
        fy = int(year)
    except (TypeError, ValueError):
        return str(year)
    if style == "fy":
        return format_fiscal_year(fy, "fy")
    if style == "western":
        return format_fiscal_year(fy, "western")
    if style == "short":
        return format_fiscal_year(fy, "short")
    return format_fiscal_year(fy)


# --- progress reports (進捗報告) ---------------------------------------------------------------

REPORT_STATES = ("DRAFT", "SUBMITTED", "RETURNED", "ACCEPTED", "APPROVED", "PUBLISHED")
# What the 所管課 still owes for a period: nothing yet, a draft, or a returned report.
OWED_STATES = (None, "DRAFT", "RETURNED")
ADHERENCE = ("ON_SCHEDULE", "AHEAD", "DELAYED", "NOT_STARTED", "COMPLETED", "CANCELLED")


def when(value: str | None) -> str:
    """A timestamp of the API (ISO 8601) as people in the ward read it: JST, to the minute."""
    if not value:
        return "-"
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(JST)
    return moment.strftime("%Y-%m-%d %H:%M")


def latest_reports(reports: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The current version of each period's report (the API lists newest version first)."""
    latest: dict[str, dict[str, Any]] = {}
    for report in reports:
        kept = latest.get(report["period"])
        if kept is None or int(report.get("version") or 1) > int(kept.get("version") or 1):
            latest[report["period"]] = report
    return latest


def report_periods(
    fiscal_from: int,
    fiscal_to: int,
    deadlines: list[dict[str, Any]],
    existing: list[str],
    today: dt.date | None = None,
) -> list[str]:
    """The periods a 所管課 reports on for a plan: every period with a deadline or a report
    within the plan's years, and the last finished fiscal year (clipped to the plan)."""
    periods = set(existing)
    for deadline in deadlines:
        year = _period_year(deadline["period"])
        if year is not None and fiscal_from <= year <= fiscal_to:
            periods.add(deadline["period"])
    last = min(current_fiscal_year(today) - 1, fiscal_to)
    if last >= fiscal_from:
        periods.add(f"FY{last}")
    return sorted(periods, reverse=True)


def _period_year(period: str) -> int | None:
    text = period.strip().upper()
    if not text.startswith("FY") or len(text) < 6 or not text[2:6].isdigit():
        return None
    return int(text[2:6])


def due_of(period: str, deadlines: list[dict[str, Any]]) -> str | None:
    return next((d["dueOn"] for d in deadlines if d["period"] == period), None)


def is_overdue(
    period: str, state: str | None, deadlines: list[dict[str, Any]], today: dt.date | None = None
) -> bool:
    """Past the 事務局's due date and not yet submitted (nothing, a draft or returned)."""
    due = due_of(period, deadlines)
    if due is None or state not in OWED_STATES:
        return False
    today = today or dt.datetime.now(JST).date()
    return dt.date.fromisoformat(str(due)) < today


def year_tracks(
    schedule: list[dict[str, Any]], fiscal_year: int, report: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The schedule tracks of the year as printed in the plan (and any the report names), with
    the report's adherence and note."""
    given = {a["track"]: a for a in (report or {}).get("adherence") or []}
    tracks: list[dict[str, Any]] = []
    for entry in schedule:
        if entry["fiscalYear"] != fiscal_year:
            continue
        track = entry.get("track") or ""
        if any(t["track"] == track for t in tracks):
            continue
        tracks.append({"track": track, "planned": entry.get("label"), "adherence": "", "note": ""})
    for track, entry in given.items():
        if not any(t["track"] == track for t in tracks):
            tracks.append(
                {"track": track, "planned": entry.get("planned"), "adherence": "", "note": ""}
            )
    for t in tracks:
        reported = given.get(t["track"])
        if reported:
            t["adherence"] = reported.get("adherence") or ""
            t["note"] = reported.get("note") or ""
    return tracks


def evidence_text(evidence: list[dict[str, Any]]) -> str:
    """Evidence links as the form shows them: one per line, the URL then its title."""
    return "\n".join(f"{e['url']} {e.get('title') or ''}".strip() for e in evidence)


def parse_evidence(text: str) -> list[dict[str, str | None]]:
    links: list[dict[str, str | None]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        url, _, title = line.partition(" ")
        links.append({"url": url, "title": title.strip() or None})
    return links


def report_field(field: str | None) -> str:
    """An API error's field (``input.adherence[1].note``) as the form's key (``adherence-1``)."""
    text = (field or "").removeprefix("input.")
    if text.startswith("adherence["):
        index = text[len("adherence[") :].split("]", 1)[0]
        return f"adherence-{index}"
    if text.startswith("evidence"):
        return "evidence"
    return text.rsplit(".", 1)[-1] or "_form"


def report_state_counts(
    measures: list[dict[str, Any]],
) -> tuple[list[str], dict[str, Counter[str]]]:
    """Per period, how many measures' current reports are in each state."""
    counts: dict[str, Counter[str]] = {}
    for measure in measures:
        for period, report in latest_reports(measure.get("progressReports") or []).items():
            counts.setdefault(period, Counter())[report["state"]] += 1
    return sorted(counts, reverse=True), counts


def overdue_reports(
    measures: list[dict[str, Any]],
    deadlines: list[dict[str, Any]],
    fiscal_from: int,
    fiscal_to: int,
    today: dt.date | None = None,
) -> list[dict[str, Any]]:
    """Measures whose report of a period is past its due date and not submitted."""
    late = []
    for deadline in deadlines:
        year = _period_year(deadline["period"])
        if year is None or not fiscal_from <= year <= fiscal_to:
            continue
        for measure in measures:
            report = latest_reports(measure.get("progressReports") or []).get(deadline["period"])
            state = report["state"] if report else None
            if is_overdue(deadline["period"], state, deadlines, today):
                late.append(
                    {
                        "measure": measure,
                        "period": deadline["period"],
                        "dueOn": deadline["dueOn"],
                        "state": state,
                    }
                )
    return late


def iso_date(text: str) -> str | None:
    """``text`` as an ISO date (YYYY-MM-DD), or None when it is not one."""
    try:
        return dt.date.fromisoformat(text.strip()).isoformat() if text.strip() else None
    except ValueError:
        return None


def parse_days(text: str) -> list[int] | None:
    """Reminder days typed as ``14, 7, 1`` (or 、 separated): the numbers; None when empty (the
    API's default). Raises ValueError when something is not a whole number."""
    parts = [p.strip() for p in text.replace("、", ",").replace(" ", ",").split(",") if p.strip()]
    return [int(p) for p in parts] if parts else None


def newest_published(reports: list[dict[str, Any]]) -> set[str]:
    """The ids of the version the public sees per period: the newest published one (an older
    published version is superseded once its correction is published)."""
    newest: dict[str, dict[str, Any]] = {}
    for report in reports:
        if report["state"] != "PUBLISHED":
            continue
        seen = newest.get(report["period"])
        if seen is None or report["version"] > seen["version"]:
            newest[report["period"]] = report
    return {r["id"] for r in newest.values()}
