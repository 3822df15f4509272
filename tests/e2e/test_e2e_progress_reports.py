"""The yearly progress report of a measure without numbers, through the gateway as users do it.

Everything runs as separate processes (plans, indicators, notifications, gateway) on the real
broker and PostgreSQL, with 練馬区's current plan loaded (no numeric targets: its measures are
followed against their yearly schedule, 検討 → 構築 → 運用 per track). A reporter of an owning
department writes the FY2024 report of one measure with one track 遅延 → the 事務局 returns it
with a comment → the reporter resubmits → the 事務局 accepts → the 本部 approves → it is
published and readable without a token. The schedule slip is on progress_report.workflow and
in the 事務局's inbox.

The deadline: the 事務局 sets a due date that has passed → the plans service's sweep signals
each measure without a submitted report once → the notifications service opens exactly one
report_overdue alert per measure for its 所管課 → three business days later (the notifications
service's own scheduler pass, run with its clock moved on) it is escalated once, to the 事務局 →
the reporter submits through the gateway → the alert is resolved and both hear of it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from suishin.cli.demo import demo_settings, import_plans
from suishin.cli.notifications_commands import load_directories
from suishin.cli.stack import Stack
from suishin.contracts import topics
from suishin.contracts.planfile import PlanFile, load_plan_file
from suishin.devstack.testing import TopicReader, started, wait_until
from suishin.kit.auth import issue_token
from suishin.kit.clock import FixedClock
from suishin.notifications.app import build as build_notifications
from suishin.notifications.runtime import runtime_of
from suishin.notifications.settings import NotificationsSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

DATASETS = Path(__file__).resolve().parents[2] / "datasets"
PLAN = DATASETS / "nerima-ict2020.yaml"
DIRECTORY = DATASETS / "directory" / "nerima.yaml"
MEASURE = "目標2/2-1/①"  # 母子健康情報の電子化…: two tracks, no indicator at all
PERIOD = "FY2024"
TENANT = "nerima"


class Nerima:
    """練馬区 as its users see it through the gateway."""

    def __init__(self, stack: Stack, plan_file: PlanFile) -> None:
        gateway = next(s for s in stack.specs if s.name == "gateway")
        self.url = f"{gateway.base_url}/graphql"
        self.settings = demo_settings(stack)
        self.plan_file = plan_file

    def token(self, subject: str, *roles: str, departments: tuple[str, ...] = ()) -> str:
        return issue_token(
            self.settings,
            subject=subject,
            tenant=TENANT,
            roles=list(roles),
            departments=list(departments),
        )

    async def call(self, bearer: str | None, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                self.url, json={"query": query, "variables": variables}, headers=headers
            )
        body: dict[str, Any] = response.json()
        assert not body.get("errors"), body["errors"]
        return dict(body["data"])

    async def inbox(self, bearer: str) -> list[dict[str, Any]]:
        data = await self.call(
            bearer, "{ myInbox(first: 100) { edges { node { id kind title body link } } } }"
        )
        return [edge["node"] for edge in data["myInbox"]["edges"]]

    def notifications_settings(self) -> NotificationsSettings:
        fields = {"database_url", "kafka_bootstrap", "schema_prefix", "topic_prefix"}
        return NotificationsSettings(**self.settings.model_dump(include=fields))

    async def fetch(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.settings.database_url)
        try:
            await conn.execute(f'set search_path to "{self.settings.schema_name(service)}"')
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def step(self, bearer: str, mutation: str, **variables: Any) -> dict[str, Any]:
        data = await self.call(bearer, mutation, **variables)
        payload: dict[str, Any] = next(iter(data.values()))
        assert payload["errors"] == [], payload["errors"]
        report: dict[str, Any] = payload["report"]
        return report


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def nerima(platform: Stack) -> AsyncIterator[Nerima]:
    ward = Nerima(platform, load_plan_file(PLAN))
    await import_plans([(PLAN, ward.plan_file)], ward.settings, lambda _m: None)
    await load_directories([DIRECTORY], ward.notifications_settings())
    yield ward


SAVE = """mutation($input: SaveProgressReportInput!) { saveProgressReport(input: $input) {
  report { state revision adherence { track planned adherence } } errors { code message } } }"""
STEP = """mutation($m: ID!, $p: String!%s) { %s(measureId: $m, period: $p%s) {
  report { state revision version grade gradeLabel } errors { code message } } }"""


def step(name: str, declared: str = "", arguments: str = "") -> str:
    return STEP % (declared, name, arguments)


async def test_a_schedule_only_measure_goes_from_draft_to_public(nerima: Nerima) -> None:
    measure_id = str(nerima.plan_file.node_id(MEASURE))
    assert not [i for i in nerima.plan_file.indicators if any(n == MEASURE for n in i.nodes)]
    reporter = nerima.token("reporter@nerima", "reporter", departments=("健康推進課",))
    jimukyoku = nerima.token("jimukyoku@nerima", "admin", "viewer")
    honbu = nerima.token("cio@nerima", "executive", "viewer")
    ids = {"m": measure_id, "p": PERIOD}

    async with TopicReader(
        nerima.settings.kafka_bootstrap,
        nerima.settings.topic_prefix + topics.PROGRESS_REPORT_WORKFLOW,
    ) as reader:
        draft = await nerima.step(
            reporter,
            SAVE,
            input={
                "measureId": measure_id,
                "period": PERIOD,
                "results": "電子母子手帳アプリによる情報提供を継続した。",
                "issues": "母子健康電子システムの改修が国の標準化対応で遅れた。",
                "direction": "標準化対応後に運用を再開する。",
                "selfAssessedGrade": "B",
                "adherence": [
                    {"track": "母子健康電子システムの構築", "adherence": "DELAYED"},
                    {
                        "track": "マイナポータル、電子母子手帳アプリによる情報提供",
                        "adherence": "ON_SCHEDULE",
                    },
                ],
            },
        )
        assert draft["state"] == "DRAFT"
        assert [a["planned"] for a in draft["adherence"]] == ["運用", "運用"]
        submitted = await nerima.step(reporter, step("submitProgressReport"), **ids)
        assert submitted["state"] == "SUBMITTED"
        queue = await nerima.call(jimukyoku, "{ progressReportQueue { measureId state period } }")
        assert {"measureId": measure_id, "state": "SUBMITTED", "period": PERIOD} in queue[
            "progressReportQueue"
        ]
        returned = await nerima.step(
            jimukyoku,
            step("returnProgressReport", ", $c: String", ", comment: $c"),
            c="遅延の理由と見込みを記載してください。",
            **ids,
        )
        assert returned["state"] == "RETURNED"
        await nerima.step(
            reporter,
            SAVE,
            input={
                "measureId": measure_id,
                "period": PERIOD,
                "expectedRevision": returned["revision"],
                "results": "電子母子手帳アプリによる情報提供を継続した。",
                "issues": "母子健康電子システムの改修が国の標準化対応で遅れた（令和7年度見込み）。",
                "direction": "標準化対応後に運用を再開する。",
                "selfAssessedGrade": "B",
                "adherence": [
                    {
                        "track": "母子健康電子システムの構築",
                        "adherence": "DELAYED",
                        "note": "標準化対応待ち",
                    },
                    {
                        "track": "マイナポータル、電子母子手帳アプリによる情報提供",
                        "adherence": "ON_SCHEDULE",
                    },
                ],
            },
        )
        await nerima.step(reporter, step("submitProgressReport"), **ids)
        accepted = await nerima.step(jimukyoku, step("acceptProgressReport"), **ids)
        assert accepted["state"] == "ACCEPTED"
        approved = await nerima.step(honbu, step("approveProgressReport"), **ids)
        assert (approved["state"], approved["grade"], approved["gradeLabel"]) == (
            "APPROVED",
            "B",
            "一部達成",
        )
        published = await nerima.step(jimukyoku, step("publishProgressReport"), **ids)
        assert published["state"] == "PUBLISHED"
        records = await reader.wait_for(8, timeout=60)

    # Readable without a token.
    public = await nerima.call(
        None,
        """query($t: String!, $p: String) { publishedProgressReports(tenant: $t, period: $p) {
             period state results issues direction gradeLabel
             adherence { track adherence label note } measure { code title } } }""",
        t=TENANT,
        p=PERIOD,
    )
    reports = public["publishedProgressReports"]
    assert len(reports) == 1
    report = reports[0]
    assert report["measure"]["code"] == "①"
    assert report["measure"]["title"].startswith("母子健康情報の電子化")
    assert report["issues"].endswith("（令和7年度見込み）。")
    assert [(a["track"], a["label"]) for a in report["adherence"]] == [
        ("母子健康電子システムの構築", "遅延"),
        ("マイナポータル、電子母子手帳アプリによる情報提供", "予定どおり"),
    ]
    history = await nerima.call(
        jimukyoku,
        """query($id: ID!) { measure(id: $id) {
             currentReport(period: "FY2024") { transitions { fromState toState actor comment } }
             yearlyStatus(fiscalYear: 2024) { status source grade gradeLabel }
             indicators { key } } }""",
        id=measure_id,
    )
    # the indicator actuals of the year come beside the report from the indicators service
    # (this measure has none); its yearly status comes from the report's schedule adherence
    assert history["measure"]["indicators"] == []
    assert history["measure"]["yearlyStatus"] == {
        "status": "BEHIND",
        "source": "report",
        "grade": "B",
        "gradeLabel": "一部達成",
    }
    steps = history["measure"]["currentReport"]["transitions"]
    assert [(s["fromState"], s["toState"]) for s in steps] == [
        (None, "DRAFT"),
        ("DRAFT", "SUBMITTED"),
        ("SUBMITTED", "RETURNED"),
        ("RETURNED", "SUBMITTED"),
        ("SUBMITTED", "ACCEPTED"),
        ("ACCEPTED", "APPROVED"),
        ("APPROVED", "PUBLISHED"),
    ]
    assert steps[2]["comment"] == "遅延の理由と見込みを記載してください。"

    events = [json.loads(r.value) for r in records]
    mine = [e for e in events if e["aggregate_id"] == f"{measure_id}:{PERIOD}"]
    slips = [e["payload"] for e in mine if e["event_type"] == "progress_report.schedule_slipped"]
    assert len(slips) == 2  # one per submission
    assert [t["track"] for t in slips[-1]["tracks"]] == ["母子健康電子システムの構築"]
    assert slips[-1]["level_label"] == "取組"
    assert [e["event_type"] for e in mine][-1] == "progress_report.published"

    # The schedule slip reached the 事務局's inbox, naming the track in the plan's words.
    async def slip_notices() -> list[dict[str, Any]]:
        return [n for n in await nerima.inbox(jimukyoku) if n["kind"] == "schedule_slipped"]

    slip = (
        await wait_until(slip_notices, timeout=60, interval=0.2, message="the slip in the inbox")
    )[0]
    assert "母子健康電子システムの構築" in (slip["body"] or "")
    assert "取組" in slip["title"]


OVERDUE_MEASURE = "目標2/2-1/④"  # ねりまちてくてくサプリ: 健康推進課 alone, no report yet


async def test_a_missed_deadline_is_one_alert_per_measure_escalated_once_and_resolved(
    nerima: Nerima,
) -> None:
    measure_id = str(nerima.plan_file.node_id(OVERDUE_MEASURE))
    reporter = nerima.token("reporter@nerima", "reporter", departments=("健康推進課",))
    jimukyoku = nerima.token("jimukyoku@nerima", "admin", "viewer")
    ids = {"m": measure_id, "p": PERIOD}

    async with TopicReader(
        nerima.settings.kafka_bootstrap,
        nerima.settings.topic_prefix + topics.PROGRESS_REPORT_WORKFLOW,
    ) as reader:
        data = await nerima.call(
            jimukyoku,
            """mutation($p: String!, $d: Date!) { setReportDeadline(period: $p, dueOn: $d) {
                 deadline { period dueOn } errors { code message } } }""",
            p=PERIOD,
            d=date(2025, 6, 30).isoformat(),
        )
        assert data["setReportDeadline"]["errors"] == []

        # The sweep signals every measure still owing its FY2024 report, each once, in one
        # transaction with its record of what it signalled; the relay may publish them over
        # several batches, so the test waits for all of them, not for the first.
        async def signalled() -> set[str] | None:
            rows = await nerima.fetch(
                "plans",
                """select measure_id::text as m from report_signals
                   where tenant = 'nerima' and period = $1 and step = 'overdue'""",
                PERIOD,
            )
            due = {r["m"] for r in rows}
            return due if measure_id in due else None

        overdue = await wait_until(signalled, timeout=60, message="the sweep's overdue signals")

        async def overdue_signals() -> list[str] | None:
            events = [json.loads(r.value) for r in await reader.poll()]
            due = [
                e["payload"]["measure_id"]
                for e in events
                if e["event_type"] == "progress_report.overdue"
                and e["tenant"] == "nerima"
                and e["payload"]["period"] == PERIOD
            ]
            return due if set(due) >= overdue else None

        published = await wait_until(overdue_signals, timeout=60, message="overdue signals")
        assert sorted(published) == sorted(overdue)  # each measure once

    # One report_overdue alert per measure, for the owning department.
    async def alerts() -> list[asyncpg.Record] | None:
        rows = await nerima.fetch(
            "notifications",
            """select subject, count(*) as n, min(id::text) as id from alerts
               where tenant = 'nerima' and kind = 'report_overdue' group by subject""",
        )
        return rows if {r["subject"] for r in rows} >= {f"Measure:{m}" for m in overdue} else None

    rows = await wait_until(alerts, timeout=60, message="report_overdue alerts")
    assert {r["subject"] for r in rows} == {f"Measure:{m}" for m in overdue}
    assert all(r["n"] == 1 for r in rows), [dict(r) for r in rows if r["n"] != 1]
    alert_id = next(r["id"] for r in rows if r["subject"] == f"Measure:{measure_id}")

    async def reporter_alerts() -> list[dict[str, Any]]:
        return [
            n
            for n in await nerima.inbox(reporter)
            if n["kind"] == "report_overdue" and measure_id in (n["link"] or "")
        ]

    assert len(await wait_until(reporter_alerts, timeout=60, message="the alert")) == 1

    # Three business days on, the notifications service's scheduler escalates it once: to the
    # 事務局, the next step of 練馬区's chain. (Its own pass, with its clock moved on: the
    # platform's replica keeps running on today's time.)
    [escalate_at] = await nerima.fetch(
        "notifications", "select escalate_at from alerts where id = $1::uuid", alert_id
    )
    runtime, _app = build_notifications(
        nerima.notifications_settings(),
        clock=FixedClock(escalate_at["escalate_at"]),
        consume=False,
        background=False,
    )
    async with started(runtime):
        first = await runtime_of(runtime).scheduler_pass()
        again = await runtime_of(runtime).scheduler_pass()
    assert first["escalations"] >= 1 and again["escalations"] == 0
    escalations = await nerima.fetch(
        "notifications",
        "select recipient_id from notifications where alert_id = $1::uuid and kind = 'escalation'",
        alert_id,
    )
    assert [r["recipient_id"] for r in escalations] == ["jimukyoku@nerima"]

    # The reporter submits: the alert is resolved, and both the reporter and the 事務局 hear it.
    await nerima.step(
        reporter,
        SAVE,
        input={
            "measureId": measure_id,
            "period": PERIOD,
            "results": "アプリの利用者向けにウォーキングイベントを実施した。",
            "adherence": [],
        },
    )
    await nerima.step(reporter, step("submitProgressReport"), **ids)

    async def resolved() -> bool:
        [row] = await nerima.fetch(
            "notifications", "select state from alerts where id = $1::uuid", alert_id
        )
        return bool(row["state"] == "resolved")

    await wait_until(resolved, timeout=60, message="the alert resolved")
    for bearer in (reporter, jimukyoku):

        async def recovered(bearer: str = bearer) -> list[dict[str, Any]]:
            return [
                n
                for n in await nerima.inbox(bearer)
                if n["kind"] == "report_recovered" and measure_id in (n["link"] or "")
            ]

        assert len(await wait_until(recovered, timeout=60, message="recovery")) == 1
