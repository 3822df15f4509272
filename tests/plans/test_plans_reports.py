"""Progress reports (進捗報告) in the running plans service (real PostgreSQL and broker): the whole
workflow with its events, every kind of bad input with its ja/en error and nothing written,
two editors (stale revision), corrections of a published report, the 事務局 / 本部 queue and the
public read of published reports of one ward only."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids, topics
from suishin.contracts.planfile import PlanFile
from suishin.devstack.testing import Infrastructure, TopicReader, isolated_settings, started
from suishin.kit.auth import issue_token
from suishin.kit.clock import FixedClock
from suishin.kit.service import ServiceRuntime
from suishin.plans.app import build
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings
from suishin.plans.xlsx import progress_workbook

from .conftest import dataset, sample_plan_data

pytestmark = pytest.mark.integration

TENANT = "sampleku"
M1 = ids.node_id(TENANT, "p1", "基本方針Ⅰ/1")  # IT推進課 (lead), 区民課; one track
M2 = ids.node_id(TENANT, "p1", "基本方針Ⅰ/2")  # 子育て支援課; two tracks
M3 = ids.node_id(TENANT, "p1", "基本方針Ⅱ/1")  # 区民課; no schedule
TABLES = (
    "progress_reports",
    "progress_report_adherence",
    "progress_report_evidence",
    "progress_report_transitions",
    "outbox",
)


def plan_data(tenant: str = TENANT) -> dict[str, Any]:
    data = sample_plan_data()
    data["tenant"] = {"slug": tenant, "name": "見本区" if tenant == TENANT else "他区"}
    m2 = data["nodes"][0]["children"][1]
    m2["schedule"] = [
        {"fiscal_year": 2021, "label": "検討", "phase": "planning", "track": "基盤"},
        {"fiscal_year": 2022, "label": "構築", "phase": "building", "track": "基盤"},
        {"fiscal_year": 2022, "label": "検討", "phase": "planning", "track": "運用"},
        {"fiscal_year": 2023, "label": "運用", "phase": "running", "track": "運用"},
    ]
    return data


@dataclass
class Service:
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    settings: PlansSettings
    infra: Infrastructure

    def token(self, *roles: str, tenant: str = TENANT, departments: tuple[str, ...] = ()) -> str:
        return issue_token(
            self.settings,
            subject=f"{'-'.join(roles)}{''.join(departments)}@{tenant}",
            tenant=tenant,
            roles=list(roles),
            departments=departments,
        )

    async def gql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def written(self) -> tuple[int, ...]:
        pool = self.runtime.pool
        counts = [int(await pool.fetchval(f"select count(*) from {t}")) for t in TABLES]
        revisions = await pool.fetchval("select coalesce(sum(revision), 0) from progress_reports")
        return (*counts, int(revisions))


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(infra: Infrastructure) -> AsyncIterator[Service]:
    settings = isolated_settings(PlansSettings, infra)
    clock = FixedClock(datetime(2023, 5, 10, 9, 0, tzinfo=UTC))
    runtime, app = build(settings, clock=clock)
    async with started(runtime):
        await import_plan_file(runtime.pool, PlanFile.model_validate(plan_data()))
        await import_plan_file(runtime.pool, PlanFile.model_validate(plan_data("otherku")))
        for name in ("nerima-ict2020", "bunkyo-ict-vision-2019"):
            await import_plan_file(runtime.pool, dataset(name))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Service(runtime, client, settings, infra)


REPORT = """id period version state stateLabel revision results issues direction
  selfAssessedGrade grade gradeLabel gradeReason
  adherence { track planned adherence label note } evidence { url title }"""
SAVE = (
    "mutation($input: SaveProgressReportInput!) { saveProgressReport(input: $input) {"
    f" report {{ {REPORT} }} errors {{ code message messageEn field }} }} }}"
)
STEP = """mutation($m: ID!, $p: String!, $rev: Int{declared}) {{ {name}(measureId: $m,
  period: $p, expectedRevision: $rev{extra}) {{ report {{ {report}
  transitions {{ fromState toState actor comment }} }}
  errors {{ code message messageEn field }} }} }}"""


def step_query(name: str, extra: str = "") -> str:
    """``extra`` adds arguments, e.g. ", comment: $c" (each variable declared as String)."""
    declared = "".join(f", ${v}: String" for v in re.findall(r"\$(\w+)", extra))
    return STEP.format(declared=declared, name=name, extra=extra, report=REPORT)


async def save(service: Service, token: str, **input: Any) -> dict[str, Any]:
    input.setdefault("measureId", str(M2))
    input.setdefault("period", "FY2022")
    result = await service.gql(SAVE, token, input=input)
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"]["saveProgressReport"]
    return payload


async def step(
    service: Service, name: str, token: str | None, extra: str = "", **variables: Any
) -> dict[str, Any]:
    variables.setdefault("m", str(M2))
    variables.setdefault("p", "FY2022")
    result = await service.gql(step_query(name, extra), token, **variables)
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"][name]
    return payload


async def refused_save(service: Service, token: str, **input: Any) -> dict[str, Any]:
    """A save that must be refused with a ja/en error and nothing written."""
    before = await service.written()
    payload = await save(service, token, **input)
    assert payload["report"] is None
    error: dict[str, Any] = payload["errors"][0]
    assert error["message"] and error["messageEn"] and error["message"] != error["messageEn"]
    assert await service.written() == before
    return error


async def refused_step(
    service: Service, name: str, token: str | None, extra: str = "", **variables: Any
) -> dict[str, Any]:
    before = await service.written()
    payload = await step(service, name, token, extra, **variables)
    assert payload["report"] is None
    error: dict[str, Any] = payload["errors"][0]
    assert error["message"] and error["messageEn"]
    assert await service.written() == before
    return error


async def test_workflow_from_draft_to_published_with_every_step_and_event(
    service: Service,
) -> None:
    reporter = service.token("reporter", departments=("子育て支援課",))
    admin = service.token("admin")
    executive = service.token("executive")
    async with TopicReader(
        service.infra.kafka_bootstrap, service.runtime.topic(topics.PROGRESS_REPORT_WORKFLOW)
    ) as reader:
        created = await save(
            service,
            reporter,
            results="基盤の構築に着手した",
            issues="調達が遅れた",
            direction="次年度に構築を完了する",
            selfAssessedGrade="達成",
            adherence=[
                {"track": "基盤", "adherence": "DELAYED", "note": "調達の遅れ"},
                {"track": "運用", "adherence": "ON_SCHEDULE"},
            ],
            evidence=[{"url": "https://example.jp/r4.pdf", "title": "令和4年度報告"}],
        )
        assert created["errors"] == []
        report = created["report"]
        assert (report["state"], report["version"], report["revision"]) == ("DRAFT", 1, 1)
        assert report["selfAssessedGrade"] == "achieved" and report["grade"] is None
        assert report["adherence"] == [
            {
                "track": "基盤",
                "planned": "構築",
                "adherence": "DELAYED",
                "label": "遅延",
                "note": "調達の遅れ",
            },
            {
                "track": "運用",
                "planned": "検討",
                "adherence": "ON_SCHEDULE",
                "label": "予定どおり",
                "note": None,
            },
        ]
        submitted = await step(service, "submitProgressReport", reporter, rev=1)
        assert submitted["errors"] == [] and submitted["report"]["state"] == "SUBMITTED"
        # the 事務局's queue has it, the 本部's does not yet
        queue = "{ progressReportQueue { period state measure { code } } }"
        assert (await service.gql(queue, admin))["data"]["progressReportQueue"] == [
            {"period": "FY2022", "state": "SUBMITTED", "measure": {"code": "№ 2"}}
        ]
        assert (await service.gql(queue, executive))["data"]["progressReportQueue"] == []
        returned = await step(
            service, "returnProgressReport", admin, ", comment: $c", c="課題を具体的に"
        )
        assert returned["report"]["state"] == "RETURNED"
        revision = returned["report"]["revision"]
        edited = await save(
            service,
            reporter,
            expectedRevision=revision,
            results="基盤の構築に着手した（設計完了）",
            issues="調達が2か月遅れた",
            direction="次年度に構築を完了する",
            selfAssessedGrade="achieved",
            adherence=[{"track": "基盤", "adherence": "DELAYED"}],
        )
        assert edited["errors"] == [] and edited["report"]["state"] == "RETURNED"
        assert edited["report"]["evidence"] == []
        assert (await step(service, "submitProgressReport", reporter))["errors"] == []
        accepted = await step(service, "acceptProgressReport", admin)
        assert accepted["report"]["state"] == "ACCEPTED"
        assert (await service.gql(queue, executive))["data"]["progressReportQueue"][0][
            "state"
        ] == "ACCEPTED"
        approved = await step(
            service,
            "approveProgressReport",
            executive,
            ", grade: $g, reason: $r",
            g="未達成",
            r="遅延が大きい",
        )
        assert approved["errors"] == []
        assert approved["report"]["grade"] == "not_achieved"
        assert approved["report"]["gradeLabel"] == "未達成"
        assert approved["report"]["gradeReason"] == "遅延が大きい"
        published = await step(service, "publishProgressReport", admin)
        assert published["report"]["state"] == "PUBLISHED"
        assert [
            (t["fromState"], t["toState"], t["actor"], t["comment"])
            for t in published["report"]["transitions"]
        ] == [
            (None, "DRAFT", "reporter子育て支援課@sampleku", None),
            ("DRAFT", "SUBMITTED", "reporter子育て支援課@sampleku", None),
            ("SUBMITTED", "RETURNED", "admin@sampleku", "課題を具体的に"),
            ("RETURNED", "SUBMITTED", "reporter子育て支援課@sampleku", None),
            ("SUBMITTED", "ACCEPTED", "admin@sampleku", None),
            ("ACCEPTED", "APPROVED", "executive@sampleku", "遅延が大きい"),
            ("APPROVED", "PUBLISHED", "admin@sampleku", None),
        ]
        records = await reader.wait_for(8)
    events = [json.loads(r.value) for r in records]
    assert [e["event_type"] for e in events] == [
        "progress_report.submitted",
        "progress_report.schedule_slipped",
        "progress_report.returned",
        "progress_report.submitted",
        "progress_report.schedule_slipped",
        "progress_report.accepted",
        "progress_report.approved",
        "progress_report.published",
    ]
    assert {e["aggregate_id"] for e in events} == {f"{M2}:FY2022"}
    slipped = events[1]["payload"]
    assert slipped["tracks"] == [
        {"track": "基盤", "planned": "構築", "adherence": "delayed", "note": "調達の遅れ"}
    ]
    assert slipped["department_codes"] == ["子育て支援課"] and slipped["level_label"] == "施策"
    approved_event = events[6]["payload"]
    assert approved_event["is_grade_override"] is True
    assert approved_event["self_assessed_grade"] == "achieved"
    assert approved_event["grade"] == "not_achieved" and approved_event["grade_label"] == "未達成"
    assert events[2]["payload"]["comment"] == "課題を具体的に"


async def test_bad_input_is_refused_with_ja_en_errors_and_nothing_written(
    service: Service,
) -> None:
    kumin = service.token("reporter", departments=("区民課",))
    it = service.token("reporter", departments=("IT推進課",))
    admin = service.token("admin")
    m1 = str(M1)
    # a department that does not own the measure
    error = await refused_save(service, kumin, measureId=str(M2), period="FY2023", results="x")
    assert error["code"] == "REPORT_NOT_OWNER"
    # a period outside the plan (FY2021–FY2023), and a malformed one
    error = await refused_save(service, it, measureId=m1, period="FY2030", results="x")
    assert (error["code"], error["field"]) == ("REPORT_PERIOD_OUT_OF_PLAN", "period")
    error = await refused_save(service, it, measureId=m1, period="2022", results="x")
    assert error["code"] == "INVALID_PERIOD"
    # a schedule track the plan does not have that year (M1 has one unnamed track)
    error = await refused_save(
        service,
        it,
        measureId=m1,
        period="FY2022",
        results="x",
        adherence=[{"track": "運用", "adherence": "DELAYED"}],
    )
    assert (error["code"], error["field"]) == ("REPORT_UNKNOWN_TRACK", "adherence[0].track")
    error = await refused_save(
        service,
        service.token("reporter", departments=("子育て支援課",)),
        measureId=str(M2),
        period="FY2023",
        results="x",
        adherence=[{"track": "基盤", "adherence": "ON_SCHEDULE"}],  # 基盤 ends in FY2022
    )
    assert error["code"] == "REPORT_UNKNOWN_TRACK"
    # a grade not on the scale
    error = await refused_save(
        service, it, measureId=m1, period="FY2022", results="x", selfAssessedGrade="S"
    )
    assert error["code"] == "UNKNOWN_GRADE"
    # an empty 実績 on submit: the draft is saved, the submission refused
    draft = await save(
        service,
        it,
        measureId=m1,
        period="FY2022",
        results="  ",
        adherence=[{"adherence": "NOT_STARTED"}],
    )
    assert draft["errors"] == [] and draft["report"]["adherence"][0]["planned"] == "構築"
    error = await refused_step(service, "submitProgressReport", it, m=m1)
    assert (error["code"], error["field"]) == ("REPORT_RESULTS_REQUIRED", "results")
    # transitions out of order, and by the wrong role
    error = await refused_step(service, "acceptProgressReport", admin, m=m1)
    assert error["code"] == "REPORT_INVALID_TRANSITION"
    error = await refused_step(service, "publishProgressReport", admin, m=m1)
    assert error["code"] == "REPORT_INVALID_TRANSITION"
    error = await refused_step(service, "approveProgressReport", admin, m=m1)
    assert error["code"] == "FORBIDDEN"
    error = await refused_step(service, "acceptProgressReport", it, m=m1)
    assert error["code"] == "FORBIDDEN"
    error = await refused_step(service, "submitProgressReport", None, m=m1)
    assert error["code"] == "FORBIDDEN"
    # another ward's staff do not find the measure
    error = await refused_step(
        service, "submitProgressReport", service.token("reporter", tenant="otherku"), m=m1
    )
    assert error["code"] == "NOT_FOUND"
    # a return needs a comment
    await save(service, it, measureId=m1, period="FY2022", expectedRevision=1, results="実施")
    assert (await step(service, "submitProgressReport", it, m=m1))["errors"] == []
    error = await refused_step(
        service, "returnProgressReport", admin, ", comment: $c", m=m1, c="  "
    )
    assert error["code"] == "REPORT_COMMENT_REQUIRED"
    # a submitted report is not editable
    error = await refused_save(
        service, it, measureId=m1, period="FY2022", expectedRevision=3, results="y"
    )
    assert error["code"] == "REPORT_NOT_EDITABLE"


async def test_two_editors_the_second_gets_a_stale_version(service: Service) -> None:
    kumin = service.token("reporter", departments=("区民課",))
    other = service.token("reporter", departments=("区民課", "IT推進課"))
    m3 = str(M3)
    created = await save(service, kumin, measureId=m3, period="FY2023-H1", results="上半期")
    assert created["report"]["revision"] == 1
    # both read revision 1; the first save wins, the second is refused
    first = await save(
        service, kumin, measureId=m3, period="FY2023-H1", expectedRevision=1, results="A"
    )
    assert first["errors"] == [] and first["report"]["revision"] == 2
    error = await refused_save(
        service, other, measureId=m3, period="FY2023-H1", expectedRevision=1, results="B"
    )
    assert (error["code"], error["field"]) == ("REPORT_STALE_VERSION", "expectedRevision")
    # the same race at once: of two saves naming revision 2, exactly one wins
    racing = await asyncio.gather(
        *(
            save(service, t, measureId=m3, period="FY2023-H1", expectedRevision=2, results=x)
            for t, x in ((kumin, "A2"), (other, "B2"))
        )
    )
    codes = sorted(e["code"] for r in racing for e in r["errors"])
    assert codes == ["REPORT_STALE_VERSION"]
    winner = next(r["report"] for r in racing if r["report"])
    assert winner["revision"] == 3
    # creating again (no revision) when a report exists is stale too
    error = await refused_save(service, other, measureId=m3, period="FY2023-H1", results="C")
    assert error["code"] == "REPORT_STALE_VERSION"
    # a transition naming an old revision is refused
    error = await refused_step(service, "submitProgressReport", kumin, m=m3, p="FY2023-H1", rev=1)
    assert error["code"] == "REPORT_STALE_VERSION"
    data = await service.gql(
        """query($id: ID!) { measure(id: $id) { currentReport(period: "FY2023-H1") {
             results revision } } }""",
        kumin,
        id=m3,
    )
    assert data["data"]["measure"]["currentReport"] == {
        "results": winner["results"],
        "revision": 3,
    }


PUBLIC = """query($t: String!, $p: String) { publishedProgressReports(tenant: $t, period: $p) {
  tenant period version state results grade gradeReason transitions { toState }
  measure { code } } }"""


async def test_correction_public_read_and_history(service: Service) -> None:
    it = service.token("reporter", departments=("IT推進課",))
    admin = service.token("admin")
    executive = service.token("executive")
    m1 = str(M1)
    period = {"m": m1, "p": "FY2021"}
    await save(
        service, it, measureId=m1, period="FY2021", results="検討した", selfAssessedGrade="達成"
    )
    for name, token in (
        ("submitProgressReport", it),
        ("acceptProgressReport", admin),
        ("approveProgressReport", executive),
        ("publishProgressReport", executive),
    ):
        assert (await step(service, name, token, **period))["errors"] == [], name
    # a published report is not edited; a correction is a new version
    error = await refused_save(
        service, it, measureId=m1, period="FY2021", expectedRevision=5, results="z"
    )
    assert error["code"] == "REPORT_NOT_EDITABLE"
    correction = await service.gql(
        """mutation($m: ID!) { correctPublishedReport(measureId: $m, period: "FY2021",
             reason: "数値の誤り") { report { version state results revision }
             errors { code } } }""",
        it,
        m=m1,
    )
    assert correction["data"]["correctPublishedReport"]["report"] == {
        "version": 2,
        "state": "DRAFT",
        "results": "検討した",
        "revision": 1,
    }
    # while the correction is under way the public still reads version 1
    public = (await service.gql(PUBLIC, t=TENANT, p="FY2021"))["data"]["publishedProgressReports"]
    assert [(r["version"], r["results"], r["transitions"], r["gradeReason"]) for r in public] == [
        (1, "検討した", None, None)
    ]
    await save(
        service,
        it,
        measureId=m1,
        period="FY2021",
        expectedRevision=1,
        results="検討を完了した",
        selfAssessedGrade="達成",
    )
    for name, token in (
        ("submitProgressReport", it),
        ("acceptProgressReport", admin),
        ("approveProgressReport", executive),
        ("publishProgressReport", admin),
    ):
        assert (await step(service, name, token, **period))["errors"] == [], name
    public = (await service.gql(PUBLIC, t=TENANT, p="FY2021"))["data"]["publishedProgressReports"]
    assert [(r["version"], r["results"], r["grade"]) for r in public] == [
        (2, "検討を完了した", "achieved")
    ]
    # staff see both versions, the first superseded; the public only the published one
    history = """query($id: ID!) { measure(id: $id) { progressReports(period: "FY2021") {
                   version state transitions { fromState toState } } } }"""
    staff = (await service.gql(history, service.token("viewer"), id=m1))["data"]["measure"]
    assert [(r["version"], r["state"]) for r in staff["progressReports"]] == [
        (2, "PUBLISHED"),
        (1, "SUPERSEDED"),
    ]
    assert staff["progressReports"][1]["transitions"][-1] == {
        "fromState": "PUBLISHED",
        "toState": "SUPERSEDED",
    }
    anonymous = (await service.gql(history, id=m1))["data"]["measure"]
    assert [r["version"] for r in anonymous["progressReports"]] == [2]
    # only published reports, and only of the ward asked for (drafts and submitted are hidden)
    everything = (await service.gql(PUBLIC, t=TENANT))["data"]["publishedProgressReports"]
    assert {(r["tenant"], r["state"]) for r in everything} == {(TENANT, "PUBLISHED")}
    assert {r["measure"]["code"] for r in everything} == {"№ 1", "№ 2"}
    assert (await service.gql(PUBLIC, t="otherku"))["data"]["publishedProgressReports"] == []
    current = await service.gql(
        """query($id: ID!) { measure(id: $id) { currentReport(period: "FY2022") { state } } }""",
        id=m1,
    )
    assert current["data"]["measure"]["currentReport"] is None  # submitted: not public


async def test_deadlines_are_set_by_the_secretariat(service: Service) -> None:
    admin = service.token("admin")
    query = """mutation($d: Date!, $r: [Int!]) { setReportDeadline(period: "FY2023",
      dueOn: $d, reminderDays: $r) { deadline { period dueOn reminderDays setBy }
      errors { code message messageEn } } }"""
    ok = await service.gql(query, admin, d="2024-05-31", r=[1, 7])
    assert ok["data"]["setReportDeadline"]["deadline"] == {
        "period": "FY2023",
        "dueOn": "2024-05-31",
        "reminderDays": [7, 1],
        "setBy": "admin@sampleku",
    }
    refused = await service.gql(query, service.token("executive"), d="2024-05-31")
    assert refused["data"]["setReportDeadline"]["errors"][0]["code"] == "FORBIDDEN"
    bad = await service.gql(query, admin, d="2024-05-31", r=[0])
    assert bad["data"]["setReportDeadline"]["errors"][0]["code"] == "INVALID_REMINDER_DAYS"
    listed = await service.gql("{ reportDeadlines { period dueOn } }", admin)
    assert listed["data"]["reportDeadlines"] == [{"period": "FY2023", "dueOn": "2024-05-31"}]


YEARLY = """query($id: ID!, $fy: Int!) { measures(planId: $id, first: 500) { edges { node {
  code status yearlyStatus(fiscalYear: $fy) { status source grade gradeLabel } } } } }"""


async def yearly(service: Service, tenant: str, key: str, fy: int) -> list[dict[str, Any]]:
    token = service.token("viewer", tenant=tenant)
    data = await service.gql(YEARLY, token, id=str(ids.plan_id(tenant, key)), fy=fy)
    assert "errors" not in data, data
    return [e["node"] for e in data["data"]["measures"]["edges"]]


async def test_yearly_status_with_and_without_numbers(service: Service) -> None:
    """Runs after the workflow tests of this module (reports of FY2021 and FY2022 exist)."""
    rows = {r["code"]: r["yearlyStatus"] for r in (await yearly(service, TENANT, "p1", 2022))}
    # № 2: its FY2022 report (published) says a track is 遅延; the 本部 graded it 未達成
    assert rows["№ 2"] == {
        "status": "BEHIND",
        "source": "report",
        "grade": "not_achieved",
        "gradeLabel": "未達成",
    }
    fy2021 = await yearly(service, TENANT, "p1", 2021)
    # № 1 of 基本方針Ⅰ: the grade the ward published for FY2021
    assert fy2021[0]["yearlyStatus"] == {
        "status": "ON_TRACK",
        "source": "grade",
        "grade": "achieved",
        "gradeLabel": "達成",
    }
    # nothing known: no data, never a grade
    assert fy2021[1]["yearlyStatus"] == {
        "status": "NO_DATA",
        "source": "none",
        "grade": None,
        "gradeLabel": None,
    }
    # 練馬区 (no numeric targets) and 文京区 (a vision): every measure shows a yearly status
    for tenant, key, fy in (("nerima", "ict2020", 2024), ("bunkyo", "ict-vision-2019", 2020)):
        measures = await yearly(service, tenant, key, fy)
        assert measures, key
        statuses = {m["yearlyStatus"]["status"] for m in measures}
        assert statuses <= {"NO_DATA", "COMPLETE", "ON_TRACK", "BEHIND"}, statuses
        for m in measures:
            if m["yearlyStatus"]["status"] == "NO_DATA":
                assert m["yearlyStatus"]["grade"] is None
            if m["status"] == "COMPLETED":
                assert m["yearlyStatus"]["status"] == "COMPLETE"


async def test_progress_list_carries_the_reports(service: Service) -> None:
    """Runs after the workflow tests: the 進捗状況一覧 gains 実績 / 課題 / 方向性 / adherence."""
    sheet = (await progress_workbook(service.runtime.pool, TENANT, "p1"))["進捗状況一覧"]
    header = [c.value for c in sheet[2]]
    assert header[:4] == ["No.", "施策名", "所管課", "ステータス"]
    # appended after the yearly columns and the national frameworks, years in the ward's style
    assert header[-4:] == [
        "令和5年度 進捗報告 実績",
        "令和5年度 課題",
        "令和5年度 方向性",
        "令和5年度 スケジュール進捗",
    ]
    rows = {r[1]: r for r in sheet.iter_rows(min_row=3, values_only=True)}
    start = header.index("令和4年度 進捗報告 実績")
    assert rows["Web会議の推進"][start : start + 4] == (
        "基盤の構築に着手した（設計完了）",
        "調達が2か月遅れた",
        "次年度に構築を完了する",
        "［基盤］遅延",
    )
    # not yet published: the state is noted
    assert rows["RPAの拡大"][start] == "（提出済）実施"
