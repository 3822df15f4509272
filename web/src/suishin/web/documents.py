"""Downloads built from the gateway's answers: the 進捗状況一覧 workbook (the same layout as
``suishin export-xlsx``) and the PDF report for the 本部会議 (Japanese font from PyPI)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from io import BytesIO
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter

from suishin.web import views
from suishin.web.i18n import REPORT_STATE
from suishin.web.views import fiscal_year_text

STATUS_JA = {
    "achieved": "達成",
    "on_track": "順調",
    "at_risk": "注意",
    "off_track": "未達",
    "no_data": "実績なし",
    "stale": "更新なし",
}
MEASURE_STATUS_JA = {
    "NEW": "新規",
    "CONTINUED": "継続",
    "CHANGED": "変更",
    "EXPANDED": "拡充",
    "COMPLETED": "完了",
    "ABOLISHED": "廃止",
    "MERGED": "統合",
}
REPORT_STATE_JA = {code: pair[0] for code, pair in REPORT_STATE.items()}
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
FAILING_FILL = PatternFill("solid", fgColor="FCE4D6")
THIN = Side(style="thin", color="999999")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)


def _owners(measure: dict[str, Any]) -> str:
    names = [
        f"{o['departmentName']}（主）" if o["isLead"] else o["departmentName"]
        for o in measure["owners"]
    ]
    if not names and (measure.get("reportingOwners") or {}).get("shown"):
        # no 所管課 printed: the ancestor's or the plan's default owner, shown as such
        names.append(measure["reportingOwners"]["shown"])
    if measure.get("othersText"):
        names.append(measure["othersText"])
    return "、".join(names)


FRAMEWORKS_JA = {"jichitai_dx": "自治体DX推進計画", "kanmin_data": "官民データ活用推進基本法"}


def _year(fy: int, style: str | None) -> str:
    return fiscal_year_text(fy, style)


def progress_xlsx(plan: dict[str, Any], measures: list[dict[str, Any]]) -> bytes:
    """One row per measure: plan, actual (indicator statuses) and grade per fiscal year, then
    per fiscal year the progress report (実績, 課題, 方向性, schedule adherence; its state noted
    when not yet published); a second sheet counts the grades per year (評価集計)."""
    years = list(range(plan["fiscalYearFrom"], plan["fiscalYearTo"] + 1))
    scale = [g["label"] for g in plan["gradeScale"]["grades"]]
    labels = {g["code"]: g["label"] for g in plan["gradeScale"]["grades"]}
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "進捗状況一覧"
    ws.append([f"{plan['title']}　進捗状況一覧"])
    ws["A1"].font = Font(bold=True, size=13)
    style = plan.get("yearStyle")
    words = Counter(m["levelLabel"] for m in measures if m.get("levelLabel"))
    title_header = f"{words.most_common(1)[0][0]}名" if words else "施策名"
    header = ["No.", title_header, "所管課", "ステータス"]
    for year in years:
        y = _year(year, style)
        header += [f"{y} 計画", f"{y} 実績（指標）", f"{y} 評価"]
    header.append("国の計画との対応")
    for year in years:  # progress reports (進捗報告), appended like `suishin export-xlsx`
        y = _year(year, style)
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
        row: list[Any] = [
            m["code"],
            m["title"],
            _owners(m),
            MEASURE_STATUS_JA.get(m["status"] or "", m["status"] or ""),
        ]
        grades = {g["fiscalYear"]: g for g in m["grades"]}
        failing_columns = []
        for year in years:
            plan_lines = [
                ("［" + s["track"] + "］" if s["track"] else "") + s["label"]
                for s in m["schedule"]
                if s["fiscalYear"] == year
            ]
            actual = [
                f"{i['title']}: {STATUS_JA.get(i['status'], i['status'])}"
                + ("（上回り）" if i["exceeded"] else "")
                for i in m["indicatorInputs"]
                if i["fiscalYear"] == year
            ]
            g = grades.get(year)
            grade_text = ""
            if g is not None and g["label"]:
                grade_text = g["label"]
                counts[year][g["label"]] += 1
                if g["machineGrade"] and g["machineGrade"] != g["grade"]:
                    grade_text += (
                        f"（自動判定: {labels.get(g['machineGrade'], g['machineGrade'])}）"
                    )
                if g["isFailing"]:
                    failing_columns.append(len(row) + 3)
            row += ["\n".join(plan_lines), "\n".join(actual), grade_text]
        row.append(
            "\n".join(
                f"{FRAMEWORKS_JA.get(f['framework'], f['framework'])} {f['item']}"
                for f in m.get("frameworks") or []
            )
        )
        reports = views.latest_reports(m.get("progressReports") or [])
        for year in years:
            row += _report_cells(reports.get(f"FY{year}"))
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
    summary = wb.create_sheet("評価集計")
    summary.append(["年度", *scale, "計"])
    for cell in summary[1]:
        cell.font = Font(bold=True)
        cell.fill = HEADER_FILL
    for year in years:
        values = [counts[year].get(label, 0) for label in scale]
        summary.append([_year(year, style), *values, sum(values)])
    buffer = BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _report_cells(report: dict[str, Any] | None) -> list[str]:
    """実績, 課題, 方向性 and the schedule adherence of a report (empty without one)."""
    if report is None:
        return ["", "", "", ""]
    results = report["results"]
    if report["state"] != "PUBLISHED":
        results = f"（{REPORT_STATE_JA.get(report['state'], report['state'])}）{results}"
    lines = []
    for a in report.get("adherence") or []:
        track = f"［{a['track']}］" if a["track"] else ""
        note = f"：{a['note']}" if a.get("note") else ""
        lines.append(f"{track}{a['label']}{note}")
    return [results, report["issues"], report["direction"], "\n".join(lines)]


def japanese_font() -> Path:
    """Noto Sans CJK JP, installed from PyPI with the portal (no system font needed)."""
    import noto_cjk_sans_jp_regular

    return Path(str(noto_cjk_sans_jp_regular.FONT_PATH))


class Report(FPDF):
    def __init__(self, title: str) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.report_title = title
        self.add_font("jp", "", str(japanese_font()))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(title)
        self.set_lang("ja")
        self.set_creator("Suishin")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("jp", size=8)
        self.cell(0, 6, f"{self.report_title} — {self.page_no()}/{{nb}}", align="C")

    def heading(self, text: str) -> None:
        self.ln(2)
        self.set_font("jp", size=13)
        self.set_fill_color(221, 235, 247)
        self.cell(0, 9, text, fill=True, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("jp", size=9.5)
        self.ln(1)

    def para(self, text: str) -> None:
        self.multi_cell(0, 5.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def pdf_report(
    plan: dict[str, Any],
    indicators: list[dict[str, Any]],
    late_reports: list[dict[str, Any]] | None = None,
) -> bytes:
    """The 本部会議 report: plan summary (page 1), grade counts, off-track indicators with
    their reasons, overdue reports (each section on its own page)."""
    years, labels, counts = views.grade_counts(plan)
    measures = [n for n in views.walk(plan["nodes"]) if n["kind"] == "MEASURE"]
    pdf = Report(f"{plan['title']} 本部会議資料")
    pdf.add_page()
    pdf.set_font("jp", size=16)
    pdf.multi_cell(0, 9, f"{plan['title']}\n進捗報告（DX推進本部会議資料）", align="C")
    pdf.set_font("jp", size=10)
    pdf.ln(3)
    pdf.heading("1. 計画の概要")
    status_counts = Counter(MEASURE_STATUS_JA.get(m["status"] or "", "-") for m in measures)
    pdf.para(
        f"計画期間: {plan['fiscalYearFrom']}年度〜{plan['fiscalYearTo']}年度　"
        f"区分: {plan['kind']}　状態: {plan['state']}\n"
        f"階層: {' ＞ '.join(plan['levelLabels'])}\n"
        f"施策数: {plan['measureCount']}（"
        + "、".join(f"{k} {v}" for k, v in sorted(status_counts.items()))
        + "）\n"
        f"作成日: {dt.date.today().isoformat()}"
    )
    pdf.heading("2. 評価集計（年度別の評価件数）")
    width = 180 / (len(labels) + 2)
    pdf.set_font("jp", size=9)
    for text in ["年度", *labels, "計"]:
        pdf.cell(width, 7, text, border=1, align="C")
    pdf.ln()
    for year in years:
        values = [counts[year].get(label, 0) for label in labels]
        for text in [f"{year}年度", *map(str, values), str(sum(values))]:
            pdf.cell(width, 7, text, border=1, align="C")
        pdf.ln()
    failing = [
        (m, g)
        for m in measures
        for g in (m.get("measure") or {}).get("grades") or []
        if g.get("isFailing")
    ]
    if failing:
        pdf.ln(2)
        pdf.para(
            "未達成の施策: "
            + "、".join(f"{m['code']} {m['title']}（{g['fiscalYear']}年度）" for m, g in failing)
        )
    pdf.add_page()
    pdf.heading("3. 未達・注意の指標と理由")
    behind = [i for i in views.off_track(indicators) if i["status"]["status"] != "STALE"]
    if not behind:
        pdf.para("該当する指標はありません。")
    for i in behind:
        pdf.set_font("jp", size=10)
        pdf.para(f"■ {i['title']}（{i['status']['statusLabel']}、{i['status']['fiscalYear']}年度）")
        pdf.set_font("jp", size=9)
        pdf.para(
            f"所管課: {'、'.join(i['ownerDepartments']) or '-'}\n理由: {i['status']['reason']}"
        )
        pdf.ln(1)
    pdf.add_page()
    pdf.heading("4. 報告期限を過ぎた実績")
    late = views.overdue(indicators)
    if not late:
        pdf.para("期限を過ぎた報告はありません。")
    for i in late:
        figures = i["status"].get("figures") or {}
        owners = "、".join(i["ownerDepartments"]) or "-"
        pdf.para(
            f"■ {i['title']}　期間 {figures.get('overduePeriod') or '-'}　"
            f"期限 {figures.get('dueDate') or '-'}　所管課 {owners}"
        )
    pdf.ln(2)
    pdf.heading("5. 期限を過ぎた進捗報告")
    if not late_reports:
        pdf.para("期限を過ぎた進捗報告はありません。")
    for entry in late_reports or []:
        measure = entry["measure"]
        owners = "、".join(o["departmentName"] for o in measure.get("owners") or []) or "-"
        state = REPORT_STATE_JA.get(entry["state"] or "", "未作成")
        pdf.para(
            f"■ {measure.get('code') or ''} {measure['title']}　期間 {entry['period']}　"
            f"期限 {entry['dueOn']}　状態 {state}　所管課 {owners}"
        )
    return bytes(pdf.output())
