"""The plans service running on the real PostgreSQL and broker: subgraph queries with tenancy,
lifecycle and edit mutations (refusals write nothing), grade overrides, and the consumer of
indicator.status_changed (machine grades, measure.evaluated, duplicates, stale and bad events)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids, topics
from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Figures, IndicatorStatusChanged, new_event
from suishin.contracts.planfile import PlanFile
from suishin.devstack.testing import (
    Infrastructure,
    TopicReader,
    isolated_settings,
    produce,
    started,
    wait_until,
)
from suishin.kit.auth import issue_token
from suishin.kit.service import ServiceRuntime
from suishin.plans.app import build
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

from .conftest import sample_plan_data

pytestmark = pytest.mark.integration

TENANT = "sampleku"


def node_id(path: str, plan: str = "p1") -> UUID:
    return ids.node_id(TENANT, plan, path)


M1, M2, M3 = node_id("基本方針Ⅰ/1"), node_id("基本方針Ⅰ/2"), node_id("基本方針Ⅱ/1")
ITEM1 = node_id("基本方針Ⅰ/1/1")


@dataclass
class Service:
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    settings: PlansSettings
    infra: Infrastructure

    def token(self, *roles: str, tenant: str = TENANT, departments: tuple[str, ...] = ()) -> str:
        return issue_token(
            self.settings,
            subject=f"{'-'.join(roles)}@{tenant}",
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

    async def count(self, table: str) -> int:
        return int(await self.runtime.pool.fetchval(f"select count(*) from {table}"))

    async def written(self) -> tuple[int, ...]:
        return tuple(
            [
                await self.count(t)
                for t in ("node_history", "outbox", "grade_history", "plan_history")
            ]
            + [await self.runtime.pool.fetchval("select sum(version) from nodes")]
        )


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def service(infra: Infrastructure) -> AsyncIterator[Service]:
    settings = isolated_settings(PlansSettings, infra)
    runtime, app = build(settings)
    async with started(runtime):
        await import_plan_file(runtime.pool, PlanFile.model_validate(sample_plan_data()))
        draft = sample_plan_data()
        draft["plan"].update(key="draft", title="改訂案", state="draft")
        await import_plan_file(runtime.pool, PlanFile.model_validate(draft))
        other = sample_plan_data()
        other["tenant"] = {"slug": "otherku", "name": "他区"}
        await import_plan_file(runtime.pool, PlanFile.model_validate(other))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Service(runtime, client, settings, infra)


PLANS = "query($t: String) { plans(tenant: $t) { id key state title measureCount } }"


async def test_public_callers_see_published_plans_only(service: Service) -> None:
    public = await service.gql(PLANS, t=TENANT)
    assert [p["key"] for p in public["data"]["plans"]] == ["p1"]
    staff = await service.gql(PLANS, service.token("viewer"))
    assert sorted(p["key"] for p in staff["data"]["plans"]) == ["draft", "p1"]
    draft_id = str(ids.plan_id(TENANT, "draft"))
    hidden = await service.gql("query($id: ID!) { plan(id: $id) { key } }", id=draft_id)
    assert hidden["data"]["plan"] is None
    foreign = await service.gql(
        "query($id: ID!) { plan(id: $id) { key } }",
        service.token("admin", tenant="otherku"),
        id=draft_id,
    )
    assert foreign["data"]["plan"] is None
    assert (await service.gql(PLANS))["errors"][0]["extensions"]["code"] == "TENANT_REQUIRED"


TREE = """
query($id: ID!) {
  plan(id: $id) {
    key levelLabels levels { level label }
    nodes {
      code kind levelLabel title
      children {
        path code normalizedCode kind levelLabel
        measure {
          id title status statusLabel othersText tags
          owners { departmentCode departmentName isLead }
          goals { isPrimary goal { path title } }
          schedule { fiscalYear label phase track }
          lineage { kind planKey path nodeId }
          items { code title kind }
          grades { fiscalYear grade label publishedGrade machineGrade overrideGrade }
        }
      }
    }
  }
}"""


async def test_the_tree_and_a_measure(service: Service) -> None:
    result = await service.gql(TREE, id=str(ids.plan_id(TENANT, "p1")))
    assert "errors" not in result, result
    plan = result["data"]["plan"]
    assert plan["levelLabels"] == ["基本方針", "施策", "事業量"]
    assert [n["code"] for n in plan["nodes"]] == ["基本方針Ⅰ", "基本方針Ⅱ"]
    assert plan["nodes"][0]["levelLabel"] == "基本方針"
    first = plan["nodes"][0]["children"][0]
    assert (first["code"], first["normalizedCode"], first["levelLabel"]) == ("№ 1", "1", "施策")
    m = first["measure"]
    assert m["id"] == str(M1) and m["status"] == "CONTINUED" and m["statusLabel"] == "継続"
    assert m["owners"] == [
        {"departmentCode": "IT推進課", "departmentName": "IT推進課", "isLead": True},
        {"departmentCode": "区民課", "departmentName": "区民課", "isLead": False},
    ]
    assert m["othersText"] == "ほか関係課" and m["tags"] == ["重点I"]
    assert m["goals"] == [
        {"isPrimary": True, "goal": {"path": "基本方針Ⅱ", "title": "区民サービスの向上"}},
        {"isPrimary": False, "goal": {"path": "基本方針Ⅰ", "title": "業務の改善"}},
    ]
    assert m["schedule"][1] == {
        "fiscalYear": 2022,
        "label": "構築",
        "phase": "building",
        "track": None,
    }
    assert m["lineage"] == [
        {
            "kind": "carried_over",
            "planKey": "p0",
            "path": "旧/3",
            "nodeId": str(ids.node_id(TENANT, "p0", "旧/3")),
        }
    ]
    assert m["items"] == [{"code": "1", "title": "作成シナリオ数", "kind": "ITEM"}]
    assert m["grades"][0] == {
        "fiscalYear": 2021,
        "grade": "achieved",
        "label": "達成",
        "publishedGrade": "achieved",
        "machineGrade": None,
        "overrideGrade": None,
    }


MEASURES = """
query($plan: ID!, $filter: MeasureFilter, $first: Int!, $after: String) {
  measures(planId: $plan, filter: $filter, first: $first, after: $after) {
    totalCount
    edges { cursor node { id code title } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def test_measure_filters_and_pages(service: Service) -> None:
    plan = str(ids.plan_id(TENANT, "p1"))

    async def titles(flt: dict[str, Any]) -> list[str]:
        result = await service.gql(MEASURES, plan=plan, filter=flt, first=50)
        assert "errors" not in result, result
        return [e["node"]["title"] for e in result["data"]["measures"]["edges"]]

    assert await titles({"department": "区民課"}) == ["RPAの拡大", "電子申請の拡大"]
    assert await titles({"tag": "重点I"}) == ["RPAの拡大"]
    assert await titles({"grade": "達成", "fiscalYear": 2021}) == ["RPAの拡大"]
    assert await titles({"fiscalYear": 2022}) == ["RPAの拡大"]  # scheduled that year
    assert await titles({"text": "Web"}) == ["Web会議の推進"]
    # Wildcards and the escape character are literal: nothing here has them in its title.
    for literal in ("%", "_", "\\Web", "%Web"):
        assert await titles({"text": literal}) == [], literal
    page = (await service.gql(MEASURES, plan=plan, first=2))["data"]["measures"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    rest = await service.gql(MEASURES, plan=plan, first=2, after=page["pageInfo"]["endCursor"])
    last = rest["data"]["measures"]
    assert [e["node"]["title"] for e in last["edges"]] == ["電子申請の拡大"]
    assert not last["pageInfo"]["hasNextPage"]
    bad = await service.gql(MEASURES, plan=plan, first=2, after="garbage")
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_CURSOR"


async def test_federation_entities_and_sdl(service: Service) -> None:
    result = await service.gql(
        """query($r: [_Any!]!) { _entities(representations: $r) {
             ... on Measure { id title }
             ... on Plan { id key } } }""",
        r=[
            {"__typename": "Measure", "id": str(M3)},
            {"__typename": "Plan", "id": str(ids.plan_id(TENANT, "p1"))},
            {"__typename": "Plan", "id": str(ids.plan_id(TENANT, "draft"))},  # hidden
        ],
    )
    assert result["data"]["_entities"] == [
        {"id": str(M3), "title": "電子申請の拡大"},
        {"id": str(ids.plan_id(TENANT, "p1")), "key": "p1"},
        None,
    ]
    sdl = (await service.gql("{ _service { sdl } }"))["data"]["_service"]["sdl"]
    assert 'type Measure @key(fields: "id")' in sdl and 'type Plan @key(fields: "id")' in sdl
    assert "federation/v2.7" in sdl


CHANGE = """
mutation($id: ID!, $to: MeasureStatus!, $reason: String!) {
  changeMeasureStatus(measureId: $id, to: $to, reason: $reason) {
    measure { status history { field fromStatus toStatus changedBy reason source } }
    errors { code message messageEn field }
  }
}"""


async def change(
    service: Service, token: str | None, measure: UUID, to: str, reason: str = "年度末の見直し"
) -> dict[str, Any]:
    result = await service.gql(CHANGE, token, id=str(measure), to=to, reason=reason)
    assert "errors" not in result, result
    payload: dict[str, Any] = result["data"]["changeMeasureStatus"]
    return payload


async def refused(
    service: Service, token: str | None, measure: UUID, to: str, reason: str = "x"
) -> str:
    """Attempt a change that must be refused; prove nothing was written."""
    before = await service.written()
    payload = await change(service, token, measure, to, reason)
    assert payload["measure"] is None
    assert payload["errors"] and all(e["message"] and e["messageEn"] for e in payload["errors"])
    assert await service.written() == before
    code: str = payload["errors"][0]["code"]
    return code


async def test_lifecycle_with_history_events_and_refusals(service: Service) -> None:
    admin = service.token("admin")
    executive = service.token("executive")
    kumin = service.token("reporter", departments=("区民課",))
    async with TopicReader(
        service.infra.kafka_bootstrap, service.runtime.topic(topics.MEASURE_STATUS_CHANGED)
    ) as reader:
        # anonymous, read-only and foreign callers and other departments may not change it
        assert await refused(service, None, M3, "CONTINUED") == "FORBIDDEN"
        assert await refused(service, service.token("viewer"), M3, "CONTINUED") == "FORBIDDEN"
        other_ward = service.token("admin", tenant="otherku")
        assert await refused(service, other_ward, M3, "CONTINUED") == "NOT_FOUND"
        it = service.token("reporter", departments=("IT推進課",))
        assert await refused(service, it, M3, "CONTINUED") == "FORBIDDEN"
        assert await refused(service, kumin, M3, "EXPANDED") == "STATUS_UNCHANGED"
        assert await refused(service, kumin, M3, "CONTINUED", reason="  ") == "REASON_REQUIRED"

        ok = await change(service, kumin, M3, "CONTINUED")  # owner department: 拡充 → 継続
        assert ok["errors"] == [] and ok["measure"]["status"] == "CONTINUED"
        assert ok["measure"]["history"][-1] == {
            "field": "status",
            "fromStatus": "EXPANDED",
            "toStatus": "CONTINUED",
            "changedBy": "reporter@sampleku",
            "reason": "年度末の見直し",
            "source": "api",
        }
        assert (await change(service, admin, M3, "COMPLETED"))["errors"] == []
        # ended: 完了 → 新規 is refused for everyone, other moves need the 事務局
        assert await refused(service, executive, M3, "NEW") == "INVALID_TRANSITION"
        assert await refused(service, admin, M3, "NEW") == "INVALID_TRANSITION"
        assert await refused(service, admin, M3, "ABOLISHED") == "INVALID_TRANSITION"
        assert await refused(service, executive, M3, "CONTINUED") == "REOPEN_FORBIDDEN"
        assert await refused(service, kumin, M3, "CONTINUED") == "REOPEN_FORBIDDEN"
        assert await refused(service, admin, M3, "CONTINUED", reason="") == "REASON_REQUIRED"
        reopened = await change(service, admin, M3, "CONTINUED", reason="R6予算で再開")
        assert reopened["errors"] == []
        assert [h["toStatus"] for h in reopened["measure"]["history"]] == [
            "EXPANDED",
            "CONTINUED",
            "COMPLETED",
            "CONTINUED",
        ]
        records = await reader.wait_for(3)
    events = [json.loads(r.value) for r in records]
    assert [(e["payload"]["from_status"], e["payload"]["to_status"]) for e in events] == [
        ("拡充", "継続"),
        ("継続", "完了"),
        ("完了", "継続"),
    ]
    # version 3 is the measure.evaluated of the completion: 達成 (又は施策として完了)
    assert [e["aggregate_version"] for e in events] == [1, 2, 4]
    # completion graded it; reopening withdrew that machine grade
    history = await service.runtime.pool.fetch(
        "select grade, reason from grade_history where measure_id = $1 and kind = 'machine'"
        " order by id",
        M3,
    )
    assert [h["grade"] for h in history] == ["achieved", None]
    assert "施策として完了" in history[0]["reason"]
    assert {e["aggregate_id"] for e in events} == {str(M3)}
    assert events[2]["payload"]["reason"] == "R6予算で再開"
    assert events[0]["payload"]["department_codes"] == ["区民課"]
    # the history is internal
    history = "query($id: ID!) { measure(id: $id) { title history { field } } }"
    public = await service.gql(history, id=str(M3))
    assert public["data"]["measure"] == {"title": "電子申請の拡大", "history": None}
    assert public["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    foreign = await service.gql(history, service.token("viewer", tenant="otherku"), id=str(M3))
    assert foreign["errors"][0]["extensions"]["code"] == "FORBIDDEN"


UPDATE = """
mutation($input: UpdateMeasureInput!) {
  updateMeasure(input: $input) {
    changedFields
    measure { title tags owners { departmentCode isLead } }
    errors { code field message messageEn }
  }
}"""


async def test_update_measure(service: Service) -> None:
    admin = service.token("admin")
    before = await service.written()
    bad = await service.gql(
        UPDATE,
        admin,
        input={
            "measureId": str(M2),
            "reason": "所管替え",
            "title": "新しい名前",
            "owners": [
                {"departmentCode": "存在しない課", "isLead": True},
                {"departmentCode": "区民課", "isLead": True},
            ],
            "tags": ["未定義タグ"],
        },
    )
    payload = bad["data"]["updateMeasure"]
    assert sorted((e["code"], e["field"]) for e in payload["errors"]) == [
        ("SEVERAL_LEADS", "owners"),
        ("UNKNOWN_DEPARTMENT", "owners[0].departmentCode"),
        ("UNKNOWN_TAG", "tags[0]"),
    ]
    assert payload["measure"] is None and await service.written() == before
    assert await service.runtime.pool.fetchval("select title from nodes where id = $1", M2) == (
        "Web会議の推進"
    )
    good = await service.gql(
        UPDATE,
        admin,
        input={
            "measureId": str(M2),
            "reason": "所管替え",
            "title": "Web会議の推進（全庁）",
            "owners": [
                {"departmentCode": "IT推進課", "isLead": True},
                {"departmentCode": "子育て支援課"},
            ],
            "tags": ["重点I"],
        },
    )
    payload = good["data"]["updateMeasure"]
    assert payload["errors"] == []
    assert sorted(payload["changedFields"]) == ["owners", "tags", "title"]
    assert payload["measure"]["owners"][0] == {"departmentCode": "IT推進課", "isLead": True}
    rows = await service.runtime.pool.fetch(
        "select field, previous, value, changed_by, reason from node_history "
        "where node_id = $1 and source = 'api' order by id",
        M2,
    )
    assert [r["field"] for r in rows] == ["title", "owners", "tags"]
    assert rows[0]["previous"] == "Web会議の推進" and rows[0]["reason"] == "所管替え"


OVERRIDE = """
mutation($id: ID!, $fy: Int!, $grade: String, $reason: String!) {
  overrideGrade(measureId: $id, fiscalYear: $fy, grade: $grade, reason: $reason) {
    grade { fiscalYear grade machineGrade overrideGrade overrideReason overriddenBy isFailing }
    errors { code message messageEn }
  }
}"""


def status_event(
    measure_ids: list[UUID],
    year: int,
    status: IndicatorStatus,
    *,
    indicator: str = "kpi-1",
    version: int = 1,
    tenant: str = TENANT,
    actual: int = 5,
    target: int = 10,
    at: datetime | None = None,
) -> Any:
    return new_event(
        IndicatorStatusChanged(
            indicator_id=ids.indicator_id(tenant, indicator),
            indicator_key=indicator,
            title=f"指標 {indicator}",
            period=f"FY{year}",
            fiscal_year=year,
            from_status=None,
            to_status=status,
            figures=Figures(actual=actual, target=target, comparator="gte"),
            rule="per_year_final",
            reason="テスト",
            measure_ids=measure_ids,
        ),
        tenant=tenant,
        aggregate_id=str(ids.indicator_id(tenant, indicator)),
        producer="indicators",
        aggregate_version=version,
        occurred_at=at,
    )


async def test_machine_grades_from_indicator_statuses_and_overrides(service: Service) -> None:
    bootstrap = service.infra.kafka_bootstrap
    topic = service.runtime.topic(topics.INDICATOR_STATUS_CHANGED)
    evaluated_topic = service.runtime.topic(topics.MEASURE_EVALUATED)
    t0 = datetime.now(UTC)
    off21 = status_event([ITEM1], 2021, IndicatorStatus.OFF_TRACK, version=1, at=t0)
    off22 = status_event([ITEM1], 2022, IndicatorStatus.OFF_TRACK, version=2, at=t0)
    foreign = status_event([M1], 2021, IndicatorStatus.ACHIEVED, tenant="otherku", version=1)
    # 基本方針Ⅰ/2 has no published grade: its machine grades fail two years in a row
    m2_21 = status_event([M2], 2021, IndicatorStatus.OFF_TRACK, indicator="kpi-2", version=1)
    m2_22 = status_event([M2], 2022, IndicatorStatus.AT_RISK, indicator="kpi-2", version=2)
    await produce(
        bootstrap,
        topic,
        [
            (off21.key, off21.to_bytes()),
            (off21.key, off21.to_bytes()),  # duplicate delivery
            (off22.key, off22.to_bytes()),
            (m2_21.key, m2_21.to_bytes()),
            (m2_22.key, m2_22.to_bytes()),
            (foreign.key, foreign.to_bytes()),  # names a measure of another ward
            (b"x", b'{"tenant": "sampleku", "event_type": "indicator.status_changed"}'),
        ],
    )

    async def graded() -> list[Any]:
        rows = await service.runtime.pool.fetch(
            "select fiscal_year, machine_grade, effective_grade from grades "
            "where measure_id = $1 and machine_grade is not null order by fiscal_year",
            M1,
        )
        return rows if len(rows) == 2 else []

    rows = await wait_until(graded, timeout=60, message="machine grades")
    # FY2021: the published 達成 still counts; FY2022: the machine grade counts
    assert [(r["fiscal_year"], r["machine_grade"], r["effective_grade"]) for r in rows] == [
        (2021, "not_achieved", "achieved"),
        (2022, "not_achieved", "not_achieved"),
    ]
    async with TopicReader(bootstrap, evaluated_topic) as reader:
        records = await reader.wait_for(4)
    payloads = [json.loads(r.value)["payload"] for r in records]

    def of(measure: UUID) -> list[tuple[int, str, str, bool, int]]:
        return sorted(
            (
                p["fiscal_year"],
                p["grade"],
                p["machine_grade"],
                p["is_failing"],
                p["consecutive_failing_years"],
            )
            for p in payloads
            if p["measure_id"] == str(measure)
        )

    assert of(M1) == [
        (2021, "achieved", "not_achieved", False, 0),
        (2022, "not_achieved", "not_achieved", True, 1),
    ]
    assert of(M2) == [
        (2021, "not_achieved", "not_achieved", True, 1),
        (2022, "not_achieved", "not_achieved", True, 2),  # 未達成 two years in a row
    ]
    async with TopicReader(bootstrap, f"{topic}.dlq") as dlq:
        dead = await dlq.wait_for(2)
    reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in dead)
    assert reasons == ["tenant_mismatch", "unsupported_schema_version"]

    # a newer event regrades; a stale one (older version) arriving later changes nothing
    newer = status_event(
        [ITEM1],
        2022,
        IndicatorStatus.ACHIEVED,
        version=3,
        actual=12,
        at=t0 + timedelta(seconds=1),
    )
    await produce(bootstrap, topic, [(newer.key, newer.to_bytes())])

    async def regraded() -> Any:
        return await service.runtime.pool.fetchval(
            "select machine_grade from grades where measure_id = $1 and fiscal_year = 2022 "
            "and machine_grade = 'achieved_plus'",
            M1,
        )

    assert await wait_until(regraded, timeout=60, message="regrade after the newer event")
    consumer = service.runtime.consumers[0]
    processed = consumer.processed
    stale = status_event([ITEM1], 2022, IndicatorStatus.OFF_TRACK, version=2, at=t0)
    await produce(bootstrap, topic, [(stale.key, stale.to_bytes())])

    async def consumed() -> bool:
        return consumer.processed > processed

    await wait_until(consumed, timeout=60, message="the stale event consumed")
    row = await service.runtime.pool.fetchrow(
        "select status, aggregate_version from indicator_statuses "
        "where node_id = $1 and fiscal_year = 2022",
        ITEM1,
    )
    assert (row["status"], row["aggregate_version"]) == ("achieved", 3)
    assert await regraded() == "achieved_plus"

    # overrides: 事務局/本部 only, with a reason; the machine grade is kept next to it
    admin = service.token("admin")
    before = await service.written()
    for token, grade, fy, reason, code in [
        (service.token("viewer"), "未達成", 2022, "x", "FORBIDDEN"),
        (service.token("reporter", departments=("IT推進課",)), "未達成", 2022, "x", "FORBIDDEN"),
        (admin, "未達成", 2022, "", "REASON_REQUIRED"),
        (admin, "A", 2022, "x", "UNKNOWN_GRADE"),
        (admin, "未達成", 2030, "x", "FISCAL_YEAR_OUT_OF_PERIOD"),
    ]:
        result = await service.gql(OVERRIDE, token, id=str(M1), fy=fy, grade=grade, reason=reason)
        payload = result["data"]["overrideGrade"]
        assert [e["code"] for e in payload["errors"]] == [code]
        assert payload["grade"] is None
    assert await service.written() == before
    executive = service.token("executive")
    result = await service.gql(
        OVERRIDE, executive, id=str(M1), fy=2022, grade="未達成", reason="実績の一部が未確定"
    )
    grade = result["data"]["overrideGrade"]["grade"]
    assert grade == {
        "fiscalYear": 2022,
        "grade": "not_achieved",
        "machineGrade": "achieved_plus",
        "overrideGrade": "not_achieved",
        "overrideReason": "実績の一部が未確定",
        "overriddenBy": "executive@sampleku",
        "isFailing": True,
    }
    # public callers see the grade that counts, not who overrode it or why
    public = await service.gql(
        "query($id: ID!) { measure(id: $id) { grades(fiscalYear: 2022) "
        "{ grade machineGrade overrideGrade overrideReason } } }",
        id=str(M1),
    )
    assert public["data"]["measure"]["grades"] == [
        {
            "grade": "not_achieved",
            "machineGrade": "achieved_plus",
            "overrideGrade": None,
            "overrideReason": None,
        }
    ]
    history = await service.runtime.pool.fetch(
        "select kind, previous, grade from grade_history where measure_id = $1 order by id", M1
    )
    assert [(h["kind"], h["previous"], h["grade"]) for h in history][-1] == (
        "override",
        None,
        "not_achieved",
    )
    async with TopicReader(bootstrap, evaluated_topic) as reader:
        records = await reader.wait_for(6)
    last = max(
        (json.loads(r.value) for r in records if json.loads(r.value)["aggregate_id"] == str(M1)),
        key=lambda e: e["aggregate_version"],
    )["payload"]
    assert last["is_override"] and last["grade"] == "not_achieved"
    assert last["machine_grade"] == "achieved_plus" and last["reason"] == "実績の一部が未確定"


PUBLISH = """mutation($id: ID!) { publishPlan(planId: $id) { plan { key state }
  errors { code } } }"""
SUPERSEDE = """mutation($id: ID!, $by: ID, $reason: String!) {
  supersedePlan(planId: $id, byPlanId: $by, reason: $reason) {
    plan { key state supersededBy { key } } errors { code } } }"""


async def test_publish_and_supersede(service: Service) -> None:
    admin = service.token("admin")
    draft, p1 = str(ids.plan_id(TENANT, "draft")), str(ids.plan_id(TENANT, "p1"))
    viewer = await service.gql(PUBLISH, service.token("executive"), id=draft)
    assert [e["code"] for e in viewer["data"]["publishPlan"]["errors"]] == ["FORBIDDEN"]
    early = await service.gql(SUPERSEDE, admin, id=draft, by=p1, reason="改訂")
    assert [e["code"] for e in early["data"]["supersedePlan"]["errors"]] == ["INVALID_PLAN_STATE"]
    published = await service.gql(PUBLISH, admin, id=draft)
    assert published["data"]["publishPlan"] == {
        "plan": {"key": "draft", "state": "PUBLISHED"},
        "errors": [],
    }
    again = await service.gql(PUBLISH, admin, id=draft)
    assert [e["code"] for e in again["data"]["publishPlan"]["errors"]] == ["INVALID_PLAN_STATE"]
    done = await service.gql(SUPERSEDE, admin, id=p1, by=draft, reason="後期計画へ移行")
    assert done["data"]["supersedePlan"]["plan"] == {
        "key": "p1",
        "state": "SUPERSEDED",
        "supersededBy": {"key": "draft"},
    }
    # measures of a superseded plan are frozen
    frozen = await change(service, admin, M2, "EXPANDED")
    assert [e["code"] for e in frozen["errors"]] == ["PLAN_SUPERSEDED"]


LINEAGE = """
query($id: ID!) {
  measure(id: $id) {
    title
    lineage {
      kind planKey path
      measure { title plan { key } grades { fiscalYear grade isFailing consecutiveFailingYears } }
    }
  }
}"""


async def test_lineage_across_editions(service: Service) -> None:
    """板橋区 DX2025: the 後期 measure 施策3 merges 前期 施策12 (未達成 two years running)."""
    from .conftest import dataset

    early, late = dataset("itabashi-dx2025-early"), dataset("itabashi-dx2025-late")
    await import_plan_file(service.runtime.pool, early)
    await import_plan_file(service.runtime.pool, late)
    later = late.node_id("基本方針Ⅱ/施策3")
    result = await service.gql(LINEAGE, id=str(later))
    assert "errors" not in result, result
    links = result["data"]["measure"]["lineage"]
    assert [(x["kind"], x["planKey"], x["path"]) for x in links][:2] == [
        ("merged", "dx2025-early", "基本方針Ⅱ/施策12"),
        ("merged", "dx2025-early", "基本方針Ⅱ/施策13"),
    ]
    mynumber = links[0]["measure"]
    assert mynumber["title"] == "マイナンバーカードの交付率向上及び普及促進"
    assert mynumber["plan"] == {"key": "dx2025-early"}
    assert mynumber["grades"] == [
        {
            "fiscalYear": 2021,
            "grade": "not_achieved",
            "isFailing": True,
            "consecutiveFailingYears": 1,
        },
        {
            "fiscalYear": 2022,
            "grade": "not_achieved",
            "isFailing": True,
            "consecutiveFailingYears": 2,
        },
    ]
    successors = await service.gql(
        "query($id: ID!) { measure(id: $id) { successors { kind planKey path measure { id } } } }",
        id=str(early.node_id("基本方針Ⅱ/施策12")),
    )
    assert successors["data"]["measure"]["successors"] == [
        {
            "kind": "merged",
            "planKey": "dx2025-late",
            "path": "基本方針Ⅱ/施策3",
            "measure": {"id": str(later)},
        }
    ]
    plans = await service.gql(
        '{ planByKey(tenant: "itabashi", key: "dx2025-late") { predecessor { key state } } }'
    )
    assert plans["data"]["planByKey"]["predecessor"] == {
        "key": "dx2025-early",
        "state": "SUPERSEDED",
    }
    failing = await service.gql(
        MEASURES,
        plan=str(early.plan_id()),
        filter={"grade": "未達成", "fiscalYear": 2022},
        first=10,
    )
    edges = failing["data"]["measures"]["edges"]
    assert [e["node"]["title"] for e in edges] == ["マイナンバーカードの交付率向上及び普及促進"]


async def test_a_plan_without_owners_shows_its_default_owner_as_such(service: Service) -> None:
    data = sample_plan_data()
    data["tenant"] = {"slug": "ownerku", "name": "所管区", "year_style": "fy"}
    data["plan"]["default_owner"] = "DX推進本部事務局"
    data["departments"].append({"code": "DX推進本部事務局", "name": "DX推進本部事務局"})
    data["nodes"][0]["children"][1]["owners"] = []
    await import_plan_file(service.runtime.pool, PlanFile.model_validate(data))
    answer = await service.gql(
        """query { planByKey(tenant: "ownerku", key: "p1") { defaultOwner yearStyle
             nodes { children { measure { code
               reportingOwners { departmentCodes source isPlanDefault shown } } } } } }"""
    )
    plan = answer["data"]["planByKey"]
    assert (plan["defaultOwner"], plan["yearStyle"]) == ("DX推進本部事務局", "fy")
    owners = {
        c["measure"]["code"]: c["measure"]["reportingOwners"]
        for n in plan["nodes"]
        for c in n["children"]
    }
    assert owners["№ 2"] == {
        "departmentCodes": ["DX推進本部事務局"],
        "source": "plan_default",
        "isPlanDefault": True,
        "shown": "DX推進本部事務局（計画の既定の所管）",
    }
    assert owners["№ 1"]["source"] == "node" and not owners["№ 1"]["isPlanDefault"]


async def test_a_goal_gets_a_yearly_status_from_its_own_indicators(service: Service) -> None:
    goal = node_id("基本方針Ⅱ")
    met = status_event([goal], 2022, IndicatorStatus.ACHIEVED, indicator="goal-1", version=1)
    missed = status_event([goal], 2022, IndicatorStatus.OFF_TRACK, indicator="goal-2", version=1)
    await produce(
        service.infra.kafka_bootstrap,
        service.runtime.topic(topics.INDICATOR_STATUS_CHANGED),
        [(met.key, met.to_bytes()), (missed.key, missed.to_bytes())],
    )
    query = """query($t: String!) { planByKey(tenant: $t, key: "p1") { nodes { code
        goalStatuses { fiscalYear status label met evaluated isFailing }
        indicatorInputs { indicatorKey status } } } }"""

    async def goal_status() -> list[Any]:
        answer = await service.gql(query, t=TENANT)
        nodes = {n["code"]: n for n in answer["data"]["planByKey"]["nodes"]}
        statuses: list[Any] = nodes["基本方針Ⅱ"]["goalStatuses"]
        return statuses if statuses and statuses[0]["evaluated"] == 2 else []

    statuses = await wait_until(goal_status, timeout=60, message="goal status")
    assert statuses == [
        {
            "fiscalYear": 2022,
            "status": "some_met",
            "label": "一部達成（1/2指標）",
            "met": 1,
            "evaluated": 2,
            "isFailing": False,
        }
    ]
    # a goal is not a measure: no grade, no measure.evaluated for it
    assert not await service.runtime.pool.fetchval(
        "select count(*) from grades where measure_id = $1", goal
    )
