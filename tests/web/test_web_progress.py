"""The progress-report pages without a platform: the form keeps everything typed and shows the
API's typed error next to its field (an empty 実績 on submit, a stale version, a schedule track),
CSRF is checked before anything reaches the API, and the pure helpers behind the pages."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from suishin.web import views

from .conftest import csrf_of, portal_signed_in

MEASURE_ID = "6f1d6a3e-0000-4000-8000-000000000001"
REPORTER = {
    "subject": "reporter@nerima",
    "tenant": "nerima",
    "roles": ["reporter", "viewer"],
    "departments": ["健康推進課"],
    "posts": [],
    "name": "健康 推進",
}


def report(state: str = "DRAFT", revision: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "id": "r1",
        "period": "FY2024",
        "fiscalYear": 2024,
        "isInterim": False,
        "version": 1,
        "state": state,
        "stateLabel": "作成中",
        "revision": revision,
        "results": "保存済みの実績",
        "issues": "",
        "direction": "",
        "selfAssessedGrade": None,
        "grade": None,
        "gradeLabel": None,
        "gradeReason": None,
        "createdBy": "reporter@nerima",
        "createdAt": "2025-04-10T09:00:00+09:00",
        "updatedAt": "2025-04-10T09:00:00+09:00",
        "submittedAt": None,
        "publishedAt": None,
        "adherence": [],
        "evidence": [],
        "transitions": [],
        **extra,
    }


class ReportGateway(httpx.AsyncBaseTransport):
    """The gateway's progress-report answers; mutations answer with the errors set here."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = report()
        self.save_errors: list[dict[str, Any]] = []
        self.submit_errors: list[dict[str, Any]] = []
        self.owners: list[dict[str, Any]] = [
            {"departmentCode": "健康推進課", "departmentName": "健康推進課", "isLead": True}
        ]
        self.reporting: dict[str, Any] | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        query = body["query"]
        if "query Me" in query:
            data: dict[str, Any] = {"me": REPORTER}
        elif "query ProgressReportPage" in query:
            data = {
                "measure": {
                    "id": MEASURE_ID,
                    "tenant": "nerima",
                    "code": "①",
                    "title": "母子健康情報の電子化",
                    "path": "目標2/2-1/①",
                    "planId": "p1",
                    "plan": {
                        "id": "p1",
                        "key": "ict2020",
                        "title": "練馬区情報化基本計画",
                        "fiscalYearFrom": 2020,
                        "fiscalYearTo": 2024,
                        "gradeScale": {
                            "code": "abc",
                            "name": "ABC",
                            "grades": [
                                {"code": "A", "label": "達成", "isFailing": False},
                                {"code": "B", "label": "一部達成", "isFailing": False},
                            ],
                        },
                    },
                    "owners": self.owners,
                    "reportingOwners": self.reporting,
                    "schedule": [
                        {"fiscalYear": 2024, "label": "運用", "phase": "RUNNING", "track": "構築"},
                        {"fiscalYear": 2024, "label": "運用", "phase": "RUNNING", "track": "提供"},
                        {"fiscalYear": 2023, "label": "検討", "phase": "PLANNING", "track": "構築"},
                    ],
                    "currentReport": self.current,
                    "progressReports": [self.current] if self.current else [],
                },
                "reportDeadlines": [{"period": "FY2024", "dueOn": "2025-06-30"}],
            }
        elif "mutation SaveReport" in query:
            data = {
                "saveProgressReport": {
                    "report": None if self.save_errors else {**report(), "revision": 4},
                    "errors": self.save_errors,
                }
            }
        elif "mutation SubmitReport" in query:
            data = {
                "submitProgressReport": {
                    "report": None if self.submit_errors else report("SUBMITTED", 5),
                    "errors": self.submit_errors,
                }
            }
        else:
            data = {"__typename": "Query"}
        return httpx.Response(200, json={"data": data})


@contextlib.asynccontextmanager
async def signed_in(gateway: ReportGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with portal_signed_in(gateway, "reporter@nerima") as c:
        yield c


FORM = {
    "editable": "1",
    "expectedRevision": "3",
    "results": "",
    "issues": "国の標準化対応で遅れた",
    "direction": "標準化対応後に再開",
    "selfAssessedGrade": "B",
    "evidence": "https://example.jp/r.pdf 報告書",
    "adherenceCount": "2",
    "adherence-0-track": "構築",
    "adherence-0-value": "DELAYED",
    "adherence-0-note": "標準化待ち",
    "adherence-1-track": "提供",
    "adherence-1-value": "ON_SCHEDULE",
    "adherence-1-note": "",
}


async def test_the_form_lists_the_years_tracks_and_the_due_date() -> None:
    gateway = ReportGateway()
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
    assert page.status_code == 200
    assert "保存済みの実績" in page.text
    assert 'name="adherence-0-track" value="構築"' in page.text
    assert 'name="adherence-1-track" value="提供"' in page.text
    assert 'name="adherenceCount" value="2"' in page.text  # 2023's row is not this year's
    assert "2025-06-30" in page.text


async def test_the_plans_default_owner_reports_a_measure_that_names_no_owner() -> None:
    gateway = ReportGateway()
    gateway.owners = []
    gateway.reporting = {
        "departmentCodes": ["健康推進課"],
        "isPlanDefault": True,
        "shown": "健康推進課（計画の既定の所管）",
    }
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
    assert page.status_code == 200
    assert "健康推進課（計画の既定の所管）" in page.text and "未設定" not in page.text
    assert 'name="editable" value="1"' in page.text
    # a reporter of another department gets no form
    gateway.reporting = {"departmentCodes": ["情報政策課"], "isPlanDefault": True, "shown": "x"}
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
    assert page.status_code == 200 and 'name="editable" value="1"' not in page.text


async def test_an_empty_result_on_submit_is_shown_next_to_the_field_and_nothing_typed_is_lost() -> (
    None
):
    gateway = ReportGateway()
    gateway.submit_errors = [
        {
            "code": "REPORT_RESULTS_REQUIRED",
            "message": "実績を入力してから提出してください",
            "messageEn": "Fill in the results (実績) before submitting",
            "field": "results",
        }
    ]
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
        response = await c.post(
            f"/progress/{MEASURE_ID}/FY2024",
            data={**FORM, "csrf": csrf_of(page.text), "action": "submit"},
        )
    assert response.status_code == 422
    html = response.text
    assert re.search(r'id="err-results">実績を入力してから提出してください<', html)
    assert 'id="f-results" name="results" rows="5" cols="70" aria-invalid="true"' in html
    assert "国の標準化対応で遅れた" in html and "標準化対応後に再開" in html
    assert "標準化待ち" in html and "https://example.jp/r.pdf 報告書" in html
    assert '<option value="DELAYED" selected>' in html
    assert '<option value="B" selected>' in html
    # The draft was saved first (revision 3), then submitted with the saved revision (4).
    save = next(c for c in gateway.calls if "mutation SaveReport" in c["query"])
    assert save["variables"]["input"]["expectedRevision"] == 3
    assert save["variables"]["input"]["adherence"] == [
        {"track": "構築", "adherence": "DELAYED", "note": "標準化待ち"},
        {"track": "提供", "adherence": "ON_SCHEDULE", "note": None},
    ]
    assert save["variables"]["input"]["evidence"] == [
        {"url": "https://example.jp/r.pdf", "title": "報告書"}
    ]
    submit = next(c for c in gateway.calls if "mutation SubmitReport" in c["query"])
    assert submit["variables"]["revision"] == 4


async def test_a_stale_version_keeps_the_text_and_says_so_in_english_too() -> None:
    gateway = ReportGateway()
    gateway.current = report(revision=7)  # someone else saved in between
    gateway.save_errors = [
        {
            "code": "REPORT_STALE_VERSION",
            "message": "進捗報告は他の人が更新しました（現在の版 7、編集元の版 3）",
            "messageEn": "The progress report was changed by someone else (revision 7, you "
            "edited 3); reload it and save again",
            "field": "expectedRevision",
        }
    ]
    async with signed_in(gateway) as c:
        await c.get("/language?lang=en")
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
        response = await c.post(
            f"/progress/{MEASURE_ID}/FY2024",
            data={**FORM, "results": "私の実績", "csrf": csrf_of(page.text), "action": "save"},
        )
    assert response.status_code == 422
    assert "changed by someone else (revision 7" in response.text
    assert "私の実績" in response.text  # what was typed, not the newer saved text
    assert "保存済みの実績" not in response.text
    # Saving again now writes over the newest version knowingly.
    assert 'name="expectedRevision" value="7"' in response.text
    assert not any("mutation SubmitReport" in c["query"] for c in gateway.calls)


async def test_an_unknown_track_error_sits_next_to_that_track() -> None:
    gateway = ReportGateway()
    gateway.save_errors = [
        {
            "code": "REPORT_UNKNOWN_TRACK",
            "message": "スケジュール区分「提供」は計画の2024年度にありません",
            "messageEn": "Schedule track '提供' is not in the plan for FY2024",
            "field": "input.adherence[1].track",
        }
    ]
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
        response = await c.post(
            f"/progress/{MEASURE_ID}/FY2024",
            data={**FORM, "csrf": csrf_of(page.text), "action": "save"},
        )
    assert response.status_code == 422
    assert re.search(r'id="err-adherence-1">スケジュール区分「提供」', response.text)
    assert 'aria-invalid="true" aria-describedby="err-adherence-1"' in response.text


async def test_a_forged_form_reaches_no_mutation_and_keeps_the_input() -> None:
    gateway = ReportGateway()
    async with signed_in(gateway) as c:
        response = await c.post(
            f"/progress/{MEASURE_ID}/FY2024",
            data={**FORM, "results": "消えない実績", "csrf": "forged", "action": "submit"},
        )
    assert response.status_code == 400
    assert "消えない実績" in response.text
    assert not any("mutation" in c["query"] for c in gateway.calls)


def test_periods_deadlines_and_overdue_reports() -> None:
    today = dt.date(2026, 12, 6)
    deadlines = [
        {"period": "FY2024", "dueOn": "2025-06-30"},
        {"period": "FY2030", "dueOn": "2031-06-30"},
    ]
    # The plan 2020–2024: FY2024 (deadline, and the last finished year clipped to the plan).
    assert views.report_periods(2020, 2024, deadlines, [], today) == ["FY2024"]
    assert views.report_periods(2024, 2025, [], ["FY2024-H1"], today) == ["FY2025", "FY2024-H1"]
    assert views.is_overdue("FY2024", None, deadlines, today)
    assert views.is_overdue("FY2024", "RETURNED", deadlines, today)
    assert not views.is_overdue("FY2024", "SUBMITTED", deadlines, today)
    assert not views.is_overdue("FY2030", None, deadlines, today)
    measures = [
        {"id": "a", "progressReports": [{"period": "FY2024", "version": 1, "state": "SUBMITTED"}]},
        {"id": "b", "progressReports": [{"period": "FY2024", "version": 1, "state": "DRAFT"}]},
        {"id": "c", "progressReports": []},
        {
            "id": "d",
            "progressReports": [
                {"period": "FY2024", "version": 2, "state": "DRAFT"},
                {"period": "FY2024", "version": 1, "state": "PUBLISHED"},
            ],
        },
    ]
    late = views.overdue_reports(measures, deadlines, 2020, 2024, today)
    assert [(r["measure"]["id"], r["state"]) for r in late] == [
        ("b", "DRAFT"),
        ("c", None),
        ("d", "DRAFT"),
    ]
    periods, counts = views.report_state_counts(measures)
    assert periods == ["FY2024"]
    assert counts["FY2024"] == {"SUBMITTED": 1, "DRAFT": 2}


def test_form_helpers() -> None:
    assert views.when("2025-04-10T00:30:00+00:00") == "2025-04-10 09:30"  # JST
    assert views.when(None) == "-"
    assert views.report_field("input.adherence[2].note") == "adherence-2"
    assert views.report_field("evidence[0].url") == "evidence"
    assert views.report_field("results") == "results"
    assert views.report_field(None) == "_form"
    assert views.parse_evidence(" https://a.jp/x 資料 1\n\nhttps://b.jp ") == [
        {"url": "https://a.jp/x", "title": "資料 1"},
        {"url": "https://b.jp", "title": None},
    ]
    schedule = [
        {"fiscalYear": 2024, "label": "運用", "track": None},
        {"fiscalYear": 2025, "label": "運用", "track": None},
    ]
    given = {
        "adherence": [{"track": "", "adherence": "DELAYED", "note": "遅れ", "planned": "運用"}]
    }
    assert views.year_tracks(schedule, 2024, given) == [
        {"track": "", "planned": "運用", "adherence": "DELAYED", "note": "遅れ"}
    ]


def test_the_progress_list_appends_each_years_report() -> None:
    from openpyxl import load_workbook

    from suishin.web.documents import progress_xlsx

    plan = {
        "title": "練馬区情報化基本計画",
        "fiscalYearFrom": 2023,
        "fiscalYearTo": 2024,
        "gradeScale": {"grades": [{"code": "B", "label": "一部達成", "isFailing": False}]},
    }
    measure = {
        "code": "①",
        "title": "母子健康情報の電子化",
        "status": "NEW",
        "owners": [{"departmentName": "健康推進課", "isLead": True}],
        "schedule": [],
        "indicatorInputs": [],
        "grades": [],
        "progressReports": [
            {
                "period": "FY2024",
                "version": 2,
                "state": "SUBMITTED",
                "results": "訂正版",
                "issues": "課題",
                "direction": "方向",
                "adherence": [{"track": "構築", "label": "遅延", "note": "待ち"}],
            },
            {
                "period": "FY2024",
                "version": 1,
                "state": "PUBLISHED",
                "results": "公表版",
                "issues": "",
                "direction": "",
                "adherence": [],
            },
        ],
    }
    sheet = load_workbook(io.BytesIO(progress_xlsx(plan, [measure])))["進捗状況一覧"]
    header = [c.value for c in sheet[2]]
    # in the ward's year style (和暦 by default), after the national frameworks' column
    assert header[-9] == "国の計画との対応"
    assert header[-8:] == [
        "令和5年度 進捗報告 実績",
        "令和5年度 課題",
        "令和5年度 方向性",
        "令和5年度 スケジュール進捗",
        "令和6年度 進捗報告 実績",
        "令和6年度 課題",
        "令和6年度 方向性",
        "令和6年度 スケジュール進捗",
    ]
    row = [c.value for c in sheet[3]]
    assert row[-8:-4] == [None, None, None, None]
    assert row[-4:] == ["（提出済）訂正版", "課題", "方向", "［構築］遅延：待ち"]
