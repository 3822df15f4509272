"""Excel export of the 進捗状況一覧 (progress list), the sheet wards circulate every year.

One row per measure: code, title, owners, status, then per fiscal year of the plan the yearly
plan (schedule labels of the measure and its sub-items), the actual (indicator statuses the
plans service consumed, with their figures) and the grade (the grade that counts, with the
machine grade beside it when a person overrode it). A second sheet counts the grades per year.

The sheet speaks the plan's words: the title column is named after the measures' level label
(取組名 where the plan says 取組), years are printed in the ward's year style (令和3年度 by
default, FY2021 or 2021年度 when the plan file's ``tenant.year_style`` says so), and a measure
without its own 所管課 shows the one it answers to: the nearest ancestor's, or the plan's default
owner marked （計画の既定の所管）. A third sheet, 目標の指標, lists the goals that have
indicators of their own with the goal's yearly status. The last column of the main sheet
gives the national frameworks (自治体DX推進計画, 官民データ活用推進基本法) the plan maps each
measure to. After those, per fiscal year, the measure's progress report (進捗報告) of the
year: 実績, 課題, 方向性 and the schedule adherence per track (the latest version; its state is
noted when it is not yet published).
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Mapping
from io import BytesIO
from pathlib import Path
from typing import Any, Literal, cast, get_args

import asyncpg
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from suishin.contracts.calendar import format_fiscal_year
from suishin.contracts.enums import IndicatorStatus, ProgressReportState, ScheduleAdherence
from suishin.kit.errors import NotFound
from suishin.plans import storage
from suishin.plans.domain.goals import goal_years
from suishin.plans.domain.grading import GradeScale
from suishin.plans.domain.ownership import (
    OwnerSource,
    level_label,
    owners_for_reporting,
    owners_shown,
)
from suishin.plans.domain.reports import ADHERENCE_LABELS, STATE_LABELS
from suishin.plans.storage import Executor

STATUS_JA = {
    "achieved": "達成",
    "on_track": "順調",
    "at_risk": "注意",
    "off_track": "未達",
    "no_data": "実績なし",
    "stale": "更新なし",
}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
FAILING_FILL = PatternFill("solid", fgColor="FCE4D6")
THIN = Side(style="thin", color="999999")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def _number(value: Any) -> str:
    if value is None:
        return "-"
    text = str(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _actual_text(rows: list[asyncpg.Record]) -> str:
    lines = []
    for r in rows:
        figures = r["figures"] or {}
        numbers = ""
        if figures.get("actual") is not None or figures.get("target") is not None:
            numbers = f" {_number(figures.get('actual'))}/{_number(figures.get('target'))}"
            if figures.get("unit"):
                numbers += figures["unit"]
        mark = "（上回り）" if r["exceeded"] else ""
        lines.append(f"{r['title']}:{numbers} {STATUS_JA.get(r['status'], r['status'])}{mark}")
    return "\n".join(lines)


def _owners_text(owners: list[asyncpg.Record], others: str | None) -> str:
    names = [
        f"{o['department_name']}（主）" if o["is_lead"] else o["department_name"] for o in owners
    ]
    if others:
        names.append(others)
    return "、".join(names)


YearStyle = Literal["wareki", "western", "short", "fy"]


FRAMEWORKS_JA = {
    "jichitai_dx": "自治体DX推進計画",
    "kanmin_data": "官民データ活用推進基本法",
}


def _frameworks_text(node: Mapping[str, Any]) -> str:
    """The national frameworks the plan maps the node to: 自治体DX推進計画 (1) …"""
    tags = (node["attributes"] or {}).get("frameworks") or []
    return "\n".join(
        f"{FRAMEWORKS_JA.get(t['framework'], t['framework'])} {t['item']}" for t in tags
    )


def year_style(plan: Mapping[str, Any]) -> YearStyle:
    """The ward's year style from the plan file's tenant settings (和暦 by default)."""
    document = plan["document"] or {}
    style = (document.get("tenant") or {}).get("year_style")
    for known in get_args(YearStyle):
        if style == known:
            return cast(YearStyle, known)
    return "wareki"


async def progress_workbook(db: Executor, tenant: str, plan_key: str) -> Workbook:
    """The 進捗状況一覧 of one plan as an openpyxl workbook."""
    plan = await storage.plans.plan_by_key(db, tenant, plan_key)
    if plan is None:
        raise NotFound("計画", "Plan", f"{tenant}/{plan_key}")
    scale: GradeScale = await storage.tenants.plan_scale(db, plan["id"])
    nodes = await storage.nodes.nodes_of_plans(db, [plan["id"]])
    node_ids = [n["id"] for n in nodes]
    measures = [n for n in nodes if n["kind"] == "measure"]
    owners = _group(await storage.nodes.owners_of(db, node_ids), "node_id")
    schedule = _group(await storage.nodes.schedule_of(db, node_ids), "node_id")
    statuses = _group(await storage.grades.indicator_statuses_of(db, node_ids), "node_id")
    measure_ids = [m["id"] for m in measures]
    grades = _group(await storage.grades.grades_of(db, measure_ids), "measure_id")
    published = _group(await storage.grades.published_grades_of(db, measure_ids), "measure_id")
    years = list(range(plan["fiscal_year_from"], plan["fiscal_year_to"] + 1))
    style = year_style(plan)

    def year_text(fy: int) -> str:
        return format_fiscal_year(fy, style)

    by_id = {n["id"]: n for n in nodes}
    names = {d["code"]: d["name"] for d in await storage.tenants.departments(db, tenant)}
    default_owner = ((plan["document"] or {}).get("plan") or {}).get("default_owner")

    def owners_cell(measure: asyncpg.Record) -> str:
        own = owners.get(measure["id"], [])
        if own:
            return _owners_text(own, measure["others_text"])
        ancestors: list[list[str]] = []
        parent = by_id.get(measure["parent_id"])
        while parent is not None:
            ancestors.append([o["department_code"] for o in owners.get(parent["id"], [])])
            parent = by_id.get(parent["parent_id"])
        answer = owners_for_reporting([], ancestors, default_owner)
        if answer.source is OwnerSource.NONE:
            return measure["others_text"] or ""
        shown = owners_shown(answer, names)
        return "、".join(x for x in (shown, measure["others_text"]) if x)

    labels = [level_label(plan["level_labels"], m["level"]) for m in measures]
    measure_word = Counter(x for x in labels if x).most_common(1)
    title_header = f"{measure_word[0][0]}名" if measure_word else "施策名"

    reports = _latest_reports(await storage.reports.reports_of_measures(db, measure_ids))
    adherence = _group(
        await storage.reports.adherence_of(db, [r["id"] for r in reports.values()]), "report_id"
    )

    def label(code: str | None) -> str:
        grade = scale.find(code)
        return grade.label if grade else (code or "")

    def below(measure: asyncpg.Record) -> list[asyncpg.Record]:
        prefix = measure["path"] + "/"
        return [measure, *(n for n in nodes if n["path"].startswith(prefix))]

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "進捗状況一覧"
    ws.append([f"{plan['title']}　進捗状況一覧"])
    ws["A1"].font = Font(bold=True, size=13)
    header = ["No.", title_header, "所管課", "ステータス"]
    for year in years:
        y = year_text(year)
        header += [f"{y} 計画", f"{y} 実績（指標）", f"{y} 評価"]
    header.append("国の計画との対応")
    # progress reports (進捗報告): appended after the columns above
    for year in years:
        y = year_text(year)
        header += [
            f"{y} 進捗報告 実績",
            f"{y} 課題",
            f"{y} 方向性",
            f"{y} スケジュール進捗",
        ]
    ws.append(header)
    for cell in ws[2]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        cell.border = BORDER
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for m in measures:
        family = below(m)
        row: list[Any] = [
            m["code"],
            m["title"],
            owners_cell(m),
            m["status"] or "",
        ]
        by_year = {g["fiscal_year"]: g for g in grades.get(m["id"], [])}
        published_by_year = {p["fiscal_year"]: p for p in published.get(m["id"], [])}
        failing_columns = []
        for year in years:
            plan_lines = []
            for n in family:
                for s in schedule.get(n["id"], []):
                    if s["fiscal_year"] == year:
                        prefix = "" if n["id"] == m["id"] else f"{n['title']}："
                        track = f"［{s['track']}］" if s["track"] else ""
                        plan_lines.append(f"{prefix}{track}{s['label']}")
            actual_rows = [
                s for n in family for s in statuses.get(n["id"], []) if s["fiscal_year"] == year
            ]
            g = by_year.get(year)
            grade_text = ""
            if g is not None and g["effective_grade"]:
                grade_text = label(g["effective_grade"])
                counts[year][grade_text] += 1
                if g["override_grade"] and g["machine_grade"] != g["override_grade"]:
                    grade_text += f"（自動判定: {label(g['machine_grade']) or '-'}）"
                elif (
                    g["machine_grade"]
                    and published_by_year.get(year)
                    and g["machine_grade"] != g["effective_grade"]
                ):
                    grade_text += f"（自動判定: {label(g['machine_grade'])}）"
                if scale.is_failing(g["effective_grade"]):
                    failing_columns.append(len(row) + 3)
            row += ["\n".join(plan_lines), _actual_text(actual_rows), grade_text]
        row.append(_frameworks_text(m))
        for year in years:
            report = reports.get((m["id"], f"FY{year}"))
            row += _report_cells(report, adherence.get(report["id"], []) if report else [])
        ws.append(row)
        for column in failing_columns:
            ws.cell(row=ws.max_row, column=column).fill = FAILING_FILL
    for row_cells in ws.iter_rows(min_row=3):
        for cell in row_cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.border = BORDER
    widths = [8, 36, 24, 10] + [28, 34, 12] * len(years) + [30] + [34, 28, 28, 28] * len(years)
    for i, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.freeze_panes = "C3"

    _goal_sheet(wb, nodes, statuses, owners_cell, years, year_text, plan["level_labels"])

    summary = wb.create_sheet("評価集計")
    summary.append(["年度", *(g.label for g in scale.grades), "計"])
    for cell in summary[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for year in years:
        values = [counts[year].get(g.label, 0) for g in scale.grades]
        summary.append([year_text(year), *values, sum(values)])
    return wb


def _goal_sheet(
    wb: Workbook,
    nodes: list[asyncpg.Record],
    statuses: dict[Any, list[asyncpg.Record]],
    owners_cell: Any,
    years: list[int],
    year_text: Any,
    labels: list[str],
) -> None:
    """目標の指標: the goals (nodes above the measures) with indicators attached to them, their
    indicators' statuses and the goal's yearly status (all / some / none met)."""
    goals = [n for n in nodes if n["kind"] == "group" and statuses.get(n["id"])]
    if not goals:
        return
    sheet = wb.create_sheet("目標の指標")
    word = level_label(labels, goals[0]["level"]) or "目標"
    header = ["No.", f"{word}名", "所管課"]
    for year in years:
        y = year_text(year)
        header += [f"{y} 実績（指標）", f"{y} 状況"]
    sheet.append(header)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
        cell.border = BORDER
    for goal in goals:
        rows = statuses.get(goal["id"], [])
        by_year = {
            y.fiscal_year: y
            for y in goal_years((r["fiscal_year"], IndicatorStatus(r["status"])) for r in rows)
        }
        line: list[Any] = [goal["code"], goal["title"], owners_cell(goal)]
        failing = []
        for year in years:
            actual = _actual_text([r for r in rows if r["fiscal_year"] == year])
            status = by_year.get(year)
            line += [actual, status.label if status else ""]
            if status is not None and status.is_failing:
                failing.append(len(line))
        sheet.append(line)
        for column in failing:
            sheet.cell(row=sheet.max_row, column=column).fill = FAILING_FILL
    for row_cells in sheet.iter_rows(min_row=2):
        for cell in row_cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.border = BORDER
    for i, width in enumerate([8, 36, 24] + [34, 16] * len(years), start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width


async def progress_xlsx_bytes(db: Executor, tenant: str, plan_key: str) -> bytes:
    buffer = BytesIO()
    (await progress_workbook(db, tenant, plan_key)).save(buffer)
    return buffer.getvalue()


async def write_progress_xlsx(db: Executor, tenant: str, plan_key: str, path: Path) -> None:
    data = await progress_xlsx_bytes(db, tenant, plan_key)
    await asyncio.to_thread(path.write_bytes, data)


def _group(rows: list[asyncpg.Record], key: str) -> dict[Any, list[asyncpg.Record]]:
    out: dict[Any, list[asyncpg.Record]] = defaultdict(list)
    for r in rows:
        out[r[key]].append(r)
    return out


def _latest_reports(rows: list[asyncpg.Record]) -> dict[tuple[Any, str], asyncpg.Record]:
    """The latest version of each (measure, period) (rows come newest version first)."""
    out: dict[tuple[Any, str], asyncpg.Record] = {}
    for r in rows:
        out.setdefault((r["measure_id"], r["period"]), r)
    return out


def _report_cells(report: asyncpg.Record | None, adherence: list[asyncpg.Record]) -> list[str]:
    """実績, 課題, 方向性 and the schedule adherence of a report (empty without one)."""
    if report is None:
        return ["", "", "", ""]
    state = ProgressReportState(report["state"])
    results = report["results"]
    if state != ProgressReportState.PUBLISHED:
        results = f"（{STATE_LABELS[state]}）{results}"
    lines = []
    for a in adherence:
        track = f"［{a['track']}］" if a["track"] else ""
        note = f"：{a['note']}" if a["note"] else ""
        lines.append(f"{track}{ADHERENCE_LABELS[ScheduleAdherence(a['adherence'])]}{note}")
    return [results, report["issues"], report["direction"], "\n".join(lines)]
