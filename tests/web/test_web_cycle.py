"""The progress cycle's remaining pages without a platform: the 事務局's report deadlines (the
API's typed error next to the field, input kept, CSRF, admins only), the correction of a
published report, the muted kinds of the notification settings, and the helpers behind them."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from suishin.notifications.domain.triggers import KINDS
from suishin.web import views
from suishin.web.i18n import MUTABLE_KINDS

from .conftest import csrf_of, portal_signed_in

MEASURE_ID = "6f1d6a3e-0000-4000-8000-000000000001"
PEOPLE = {
    "jimukyoku@nerima": {
        "subject": "jimukyoku@nerima",
        "tenant": "nerima",
        "roles": ["admin", "viewer"],
        "departments": [],
        "posts": [],
        "name": "事務 局",
    },
    "reporter@nerima": {
        "subject": "reporter@nerima",
        "tenant": "nerima",
        "roles": ["reporter", "viewer"],
        "departments": ["健康推進課"],
        "posts": [],
        "name": "健康 推進",
    },
}
BUNKYO_MEASURE = {
    "id": MEASURE_ID,
    "code": "1-1",
    "title": "区民サービスの向上",
    "path": "1/1-1",
    "owners": [],
    "reportingOwners": {"shown": "情報政策課（計画の既定の所管）", "isPlanDefault": True},
    "progressReports": [],
}
REMINDER_ERROR = {
    "code": "INVALID_REMINDER_DAYS",
    "message": "リマインダーは期限の1〜365日前を重複なく指定してください",
    "messageEn": "Reminder days must be distinct numbers of days (1–365) before the deadline",
    "field": "reminderDays",
}
REASON_ERROR = {
    "code": "REASON_REQUIRED",
    "message": "理由を入力してください",
    "messageEn": "Give a reason",
    "field": "reason",
}


def published(version: int = 1, state: str = "PUBLISHED", **extra: Any) -> dict[str, Any]:
    return {
        "id": f"r{version}",
        "period": "FY2024",
        "fiscalYear": 2024,
        "isInterim": False,
        "version": version,
        "state": state,
        "stateLabel": state,
        "revision": 1,
        "results": f"公表版 {version}",
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


class CycleGateway(httpx.AsyncBaseTransport):
    def __init__(self, subject: str) -> None:
        self.me = PEOPLE[subject]
        self.calls: list[dict[str, Any]] = []
        self.deadlines: list[dict[str, Any]] = [
            {
                "period": "FY2024",
                "dueOn": "2025-06-30",
                "reminderDays": [14, 7, 1],
                "setBy": "jimukyoku@nerima",
                "setAt": "2025-04-01T00:00:00+00:00",
            }
        ]
        self.deadline_errors: list[dict[str, Any]] = []
        self.correct_errors: list[dict[str, Any]] = []
        self.current = published()
        self.muted: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls.append(body)
        query, variables = body["query"], body.get("variables") or {}
        data: dict[str, Any]
        if "query Me" in query:
            data = {"me": self.me}
        elif "query Deadlines " in query:
            data = {"reportDeadlines": self.deadlines}
        elif "query Plans" in query:
            data = {
                "plans": [
                    {
                        "id": "p1",
                        "key": "ict-vision-2019",
                        "title": "文京区情報化ビジョン",
                        "kind": "ビジョン",
                        "state": "PUBLISHED",
                        "fiscalYearFrom": 2020,
                        "fiscalYearTo": 2024,
                        "measureCount": 1,
                    }
                ]
            }
        elif "query MyMeasures" in query:
            # what the plans subgraph answers for reportingDepartment (tests/plans check the rule)
            data = {"measures": {"edges": [{"node": BUNKYO_MEASURE}]}}
        elif "query DeadlinesPage" in query:
            data = {"reportDeadlines": self.deadlines}
        elif "mutation SetDeadline" in query:
            ok = not self.deadline_errors
            if ok:
                self.deadlines.append(
                    {
                        "period": variables["period"],
                        "dueOn": variables["dueOn"],
                        "reminderDays": variables["reminderDays"] or [14, 7, 1],
                        "setBy": self.me["subject"],
                        "setAt": "2026-12-06T00:00:00+00:00",
                    }
                )
            data = {
                "setReportDeadline": {
                    "deadline": {"period": variables["period"]} if ok else None,
                    "errors": self.deadline_errors,
                }
            }
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
                        "gradeScale": None,
                    },
                    "owners": [
                        {
                            "departmentCode": "健康推進課",
                            "departmentName": "健康推進課",
                            "isLead": True,
                        }
                    ],
                    "reportingOwners": None,
                    "schedule": [],
                    "currentReport": self.current,
                    "progressReports": [self.current],
                },
                "reportDeadlines": [],
            }
        elif "mutation CorrectReport" in query:
            ok = not self.correct_errors
            data = {
                "correctPublishedReport": {
                    "report": published(2, "DRAFT") if ok else None,
                    "errors": self.correct_errors,
                }
            }
        elif "query Prefs" in query:
            data = {
                "myPreferences": {
                    "emailEnabled": True,
                    "cadence": "IMMEDIATE",
                    "mutedKinds": self.muted,
                    "respectQuietHours": True,
                    "language": "ja",
                    "inDirectory": True,
                }
            }
        elif "mutation UpdatePrefs" in query:
            self.muted = variables["input"]["mutedKinds"]
            data = {
                "updateMyPreferences": {
                    "preferences": {**variables["input"], "inDirectory": True},
                    "errors": [],
                }
            }
        else:
            data = {"__typename": "Query"}
        return httpx.Response(200, json={"data": data})


@contextlib.asynccontextmanager
async def signed_in(gateway: CycleGateway) -> AsyncIterator[httpx.AsyncClient]:
    async with portal_signed_in(gateway, str(gateway.me["subject"])) as c:
        yield c


def mutations(gateway: CycleGateway) -> list[str]:
    return [c["query"] for c in gateway.calls if "mutation" in c["query"]]


# -- the 事務局's report deadlines -------------------------------------------------------------


async def test_the_office_lists_the_deadlines_and_sets_one() -> None:
    gateway = CycleGateway("jimukyoku@nerima")
    async with signed_in(gateway) as c:
        page = await c.get("/progress/deadlines")
        assert page.status_code == 200
        assert 'href="/progress/deadlines" aria-current="page"' in page.text  # in the menu
        row = re.search(r'<tr data-period="FY2024">.*?</tr>', page.text)
        assert row and "2025-06-30" in row.group(0) and "14, 7, 1" in row.group(0)
        response = await c.post(
            "/progress/deadlines",
            data={
                "csrf": csrf_of(page.text),
                "period": "FY2025",
                "dueOn": "2026-06-30",
                "reminderDays": "10、3",
            },
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/progress/deadlines?done=1"
        after = await c.get(response.headers["location"])
    sent = next(c for c in gateway.calls if "mutation SetDeadline" in c["query"])
    assert sent["variables"] == {"period": "FY2025", "dueOn": "2026-06-30", "reminderDays": [10, 3]}
    assert "報告期限を保存しました" in after.text
    assert re.search(r'<tr data-period="FY2025">.*?2026-06-30', after.text)


async def test_the_apis_error_sits_next_to_its_field_in_either_language_and_the_input_stays() -> (
    None
):
    gateway = CycleGateway("jimukyoku@nerima")
    gateway.deadline_errors = [REMINDER_ERROR]
    form = {"period": "FY2025", "dueOn": "2026-06-30", "reminderDays": "0, 400"}
    async with signed_in(gateway) as c:
        page = await c.get("/progress/deadlines")
        response = await c.post("/progress/deadlines", data={**form, "csrf": csrf_of(page.text)})
        assert response.status_code == 422
        assert re.search(r'id="err-reminderDays">リマインダーは期限の1〜365日前', response.text)
        assert 'name="reminderDays" value="0, 400" size="20" aria-invalid="true"' in response.text
        assert 'value="FY2025"' in response.text and 'value="2026-06-30"' in response.text
        await c.get("/language", params={"lang": "en"})
        english = await c.post("/progress/deadlines", data={**form, "csrf": csrf_of(page.text)})
    assert "Reminder days must be distinct numbers of days" in english.text


async def test_a_date_or_days_the_api_would_not_parse_are_refused_next_to_the_field() -> None:
    gateway = CycleGateway("jimukyoku@nerima")
    async with signed_in(gateway) as c:
        page = await c.get("/progress/deadlines")
        response = await c.post(
            "/progress/deadlines",
            data={
                "csrf": csrf_of(page.text),
                "period": "FY2025",
                "dueOn": "2026-02-30",
                "reminderDays": "7日",
            },
        )
    assert response.status_code == 422
    assert re.search(r'id="err-dueOn">期限日は YYYY-MM-DD', response.text)
    assert re.search(r'id="err-reminderDays">リマインダーは日数', response.text)
    assert 'value="2026-02-30"' in response.text and 'value="7日"' in response.text
    assert mutations(gateway) == []


async def test_a_forged_deadline_form_and_a_reporter_reach_no_mutation() -> None:
    gateway = CycleGateway("jimukyoku@nerima")
    async with signed_in(gateway) as c:
        response = await c.post(
            "/progress/deadlines",
            data={"csrf": "forged", "period": "FY2025", "dueOn": "2026-06-30"},
        )
    assert response.status_code == 400 and 'value="FY2025"' in response.text
    reporter = CycleGateway("reporter@nerima")
    async with signed_in(reporter) as c:
        page = await c.get("/progress/deadlines")
        assert page.status_code == 403
        assert 'href="/progress/deadlines"' not in (await c.get("/settings")).text
        response = await c.post(
            "/progress/deadlines",
            data={"csrf": csrf_of((await c.get("/settings")).text), "period": "FY2025"},
        )
    assert response.status_code == 403
    assert mutations(gateway) == [] and mutations(reporter) == []


# -- what my department must report ----------------------------------------------------------


async def test_my_department_reports_the_measures_it_answers_for_as_the_plans_default() -> None:
    gateway = CycleGateway("reporter@nerima")
    gateway.me = {**gateway.me, "tenant": "bunkyo", "departments": ["情報政策課"]}
    async with signed_in(gateway) as c:
        page = await c.get("/progress")
    assert page.status_code == 200
    sent = next(c for c in gateway.calls if "query MyMeasures" in c["query"])
    assert "filter: { reportingDepartment: $department }" in sent["query"]
    assert sent["variables"]["department"] == "情報政策課"
    row = re.search(
        rf'<tr class="[^"]*" data-measure="{MEASURE_ID}" data-period="FY2024">.*?</tr>',
        page.text,
        re.S,
    )
    assert row, page.text
    assert "区民サービスの向上" in row.group(0)
    assert "所管: 情報政策課（計画の既定の所管）" in row.group(0)
    assert "2025-06-30" in row.group(0)


# -- correcting a published report ------------------------------------------------------------


async def test_the_reporter_opens_a_corrected_version_of_a_published_report() -> None:
    gateway = CycleGateway("reporter@nerima")
    gateway.correct_errors = [REASON_ERROR]
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
        assert "訂正版を作成" in page.text and 'value="correct"' in page.text
        assert 'name="editable"' not in page.text  # a published report is not edited in place
        refused = await c.post(
            f"/progress/{MEASURE_ID}/FY2024",
            data={"csrf": csrf_of(page.text), "action": "correct", "reason": "  "},
        )
        assert refused.status_code == 422
        assert re.search(r'id="err-reason">理由を入力してください', refused.text)
        gateway.correct_errors = []
        done = await c.post(
            f"/progress/{MEASURE_ID}/FY2024",
            data={"csrf": csrf_of(page.text), "action": "correct", "reason": "数値の誤記"},
        )
    assert done.status_code == 303
    assert done.headers["location"] == f"/progress/{MEASURE_ID}/FY2024?done=correct"
    sent = [c for c in gateway.calls if "mutation CorrectReport" in c["query"]]
    assert sent[-1]["variables"] == {
        "measureId": MEASURE_ID,
        "period": "FY2024",
        "reason": "数値の誤記",
    }


async def test_no_correction_is_offered_before_publication_or_to_another_department() -> None:
    gateway = CycleGateway("reporter@nerima")
    gateway.current = published(1, "APPROVED")
    async with signed_in(gateway) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
    assert page.status_code == 200 and 'value="correct"' not in page.text
    other = CycleGateway("reporter@nerima")
    other.me = {**other.me, "departments": ["情報政策課"]}
    async with signed_in(other) as c:
        page = await c.get(f"/progress/{MEASURE_ID}/FY2024")
    assert page.status_code == 200 and 'value="correct"' not in page.text


def test_the_newest_published_version_is_the_public_one() -> None:
    reports = [
        published(3, "DRAFT"),
        published(2, "PUBLISHED"),
        published(1, "SUPERSEDED"),
        {**published(1, "PUBLISHED"), "id": "h1", "period": "FY2024-H1"},
    ]
    assert views.newest_published(reports) == {"r2", "h1"}


# -- notification settings ---------------------------------------------------------------------


def test_every_mutable_kind_is_a_kind_the_notifications_service_knows() -> None:
    assert set(MUTABLE_KINDS) <= set(KINDS)
    for kind in (
        "report_submitted",
        "report_returned",
        "report_accepted",
        "report_approved",
        "report_published",
        "report_due_soon",
        "report_overdue",
        "report_recovered",
        "schedule_slipped",
        "milestone_due",
        "measure_recovered",
    ):
        assert kind in MUTABLE_KINDS, kind


@pytest.mark.parametrize(
    ("lang", "words"),
    [
        ("ja", ("進捗報告の差戻し", "スケジュールの遅れ")),
        ("en", ("Progress report returned", "Schedule slipped")),
    ],
)
async def test_the_settings_offer_the_progress_kinds_for_muting(
    lang: str, words: tuple[str, ...]
) -> None:
    gateway = CycleGateway("reporter@nerima")
    gateway.muted = ["report_due_soon"]
    async with signed_in(gateway) as c:
        await c.get("/language", params={"lang": lang})
        page = await c.get("/settings")
        for word in words:
            assert word in page.text, word
        assert 'value="report_due_soon" checked' in page.text
        for kind in MUTABLE_KINDS:
            assert f'name="mutedKinds" value="{kind}"' in page.text
        saved = await c.post(
            "/settings",
            data={
                "csrf": csrf_of(page.text),
                "cadence": "IMMEDIATE",
                "language": lang,
                "mutedKinds": ["schedule_slipped", "report_returned"],
            },
        )
    assert saved.status_code == 200
    sent = next(c for c in gateway.calls if "mutation UpdatePrefs" in c["query"])
    assert sent["variables"]["input"]["mutedKinds"] == ["schedule_slipped", "report_returned"]
    assert 'value="schedule_slipped" checked' in saved.text
