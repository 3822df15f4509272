"""The indicators subgraph: queries, mutations with typed errors, tenancy and federation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids
from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.indicators.app import build
from suishin.indicators.commands import ingest
from suishin.indicators.domain.reports import Report
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.runtime import IndicatorsRuntime
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.auth import issue_token

from .conftest import JUNE_2024, Clock, plan_file, small_plan

pytestmark = pytest.mark.integration

TENANT = "gqlku"


@dataclass
class Subgraph:
    runtime: IndicatorsRuntime
    client: httpx.AsyncClient
    settings: IndicatorsSettings

    def token(self, role: str, *departments: str, tenant: str = TENANT) -> str:
        roles = {
            "admin": ["admin", "viewer"],
            "reporter": ["reporter", "viewer"],
            "viewer": ["viewer"],
            "public": ["public"],
        }[role]
        return issue_token(
            self.settings,
            subject=f"{role}@{tenant}",
            tenant=tenant,
            roles=roles,
            departments=list(departments),
        )

    async def gql(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(self, query: str, token: str | None = None, **variables: Any) -> Any:
        body = await self.gql(query, token, **variables)
        assert "errors" not in body, body["errors"]
        return body["data"]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def subgraph(infra: Infrastructure) -> AsyncIterator[Subgraph]:
    clock = Clock(JUNE_2024)
    settings = isolated_settings(IndicatorsSettings, infra, stale_sweep_enabled=False)
    runtime, app = build(settings, clock=clock)
    async with started(runtime):
        for tenant in (TENANT, "otherku"):
            await import_indicator_definitions(
                runtime.pool, plan_file(small_plan(tenant)), now=clock.now()
            )
        async with runtime.pool.acquire() as conn, conn.transaction():
            await ingest(
                conn,
                [
                    report("p1.rpa", "FY2023", 12, "seed-1"),
                    report("p1.rpa", "FY2024", 8, "seed-2"),
                    report("p1.konbini", "FY2023", 27, "seed-3"),
                    report(
                        "p1.konbini", "FY2023", 29, "seed-4", at=datetime(2024, 5, 2, tzinfo=UTC)
                    ),
                ],
                now=clock.now(),
            )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Subgraph(runtime, client, settings)


def report(key: str, period: str, value: object, idem: str, at: datetime | None = None) -> Report:
    return Report(
        tenant=TENANT,
        indicator_key=key,
        period=period,
        value=Decimal(str(value)),
        text_value=None,
        unit=None,
        source="seed",
        idempotency_key=idem,
        occurred_at=at or datetime(2024, 5, 1, tzinfo=UTC),
        reported_by="IT推進課 担当",
        comment="seeded",
    )


LIST = """
query ($filter: IndicatorFilter, $first: Int, $after: String) {
  indicators(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { key title } }
  }
}
"""


def keys(data: Any) -> list[str]:
    return [e["node"]["key"] for e in data["indicators"]["edges"]]


async def test_indicators_are_listed_filtered_and_paged(subgraph: Subgraph) -> None:
    viewer = subgraph.token("viewer")
    every = await subgraph.data(LIST, viewer)
    assert keys(every) == [
        "p1.cashless",
        "p1.hours",
        "p1.konbini",
        "p1.rpa",
        "p1.sns",
        "p1.sns/x",
    ]
    page1 = await subgraph.data(LIST, viewer, first=4)
    assert keys(page1) == keys(every)[:4] and page1["indicators"]["totalCount"] == 6
    assert page1["indicators"]["pageInfo"]["hasNextPage"] is True
    page2 = await subgraph.data(
        LIST, viewer, first=4, after=page1["indicators"]["pageInfo"]["endCursor"]
    )
    assert keys(page2) == keys(every)[4:]
    assert page2["indicators"]["pageInfo"]["hasNextPage"] is False
    assert page2["indicators"]["pageInfo"]["hasPreviousPage"] is True

    by_department = await subgraph.data(LIST, viewer, filter={"department": "区民課"})
    assert keys(by_department) == ["p1.cashless", "p1.konbini"]
    measure = str(ids.node_id(TENANT, "p1", "1"))
    assert keys(await subgraph.data(LIST, viewer, filter={"measureId": measure})) == [
        "p1.hours",
        "p1.rpa",
    ]
    red = await subgraph.data(LIST, viewer, filter={"status": "OFF_TRACK"})
    assert keys(red) == ["p1.rpa"]  # FY2024: 8 of 10 scenarios, a year report
    fy2023 = await subgraph.data(LIST, viewer, filter={"status": "ACHIEVED", "fiscalYear": 2023})
    assert keys(fy2023) == ["p1.rpa"]
    top = await subgraph.data(LIST, viewer, filter={"topLevelOnly": True, "search": "SNS"})
    assert keys(top) == ["p1.sns"]
    # LIKE wildcards and the escape character are literal, not "match everything".
    for literal in ("%", "_", "\\", "S%S", "\\SNS"):
        assert keys(await subgraph.data(LIST, viewer, filter={"search": literal})) == [], literal


DETAIL = """
query ($key: String!) {
  indicatorByKey(key: $key) {
    id key title unit polarity aggregation granularity cadence ownerDepartments measureIds
    baseline { value period }
    status { fiscalYear status statusLabel rule reason
             figures { actual target comparator unit expectedToDate } }
    statuses { fiscalYear status }
    targets { fiscalYear value comparator revision }
    targetHistory { fiscalYear value revision reason isCurrent supersededAt }
    series { fiscalYear label actual target { value } status { status }
             measurements { value isCurrent supersededById comment reportedBy } }
    subSeries { key }
    parent { key }
  }
}
"""


async def test_an_indicator_explains_its_status_and_keeps_its_history(subgraph: Subgraph) -> None:
    viewer = subgraph.token("viewer")
    rpa = (await subgraph.data(DETAIL, viewer, key="p1.rpa"))["indicatorByKey"]
    assert rpa["id"] == str(ids.indicator_id(TENANT, "p1.rpa"))
    assert (rpa["polarity"], rpa["aggregation"], rpa["cadence"]) == (
        "HIGHER_IS_BETTER",
        "PER_YEAR",
        "YEARLY",
    )
    assert rpa["ownerDepartments"] == ["IT推進課"]
    assert rpa["measureIds"] == [str(ids.node_id(TENANT, "p1", p)) for p in ("1", "1/1")]
    assert rpa["baseline"] == {"value": "10", "period": "FY2022"}
    status = rpa["status"]
    assert (status["fiscalYear"], status["status"], status["statusLabel"]) == (
        2024,
        "OFF_TRACK",
        "遅れ・未達成",
    )
    assert status["rule"] == "per_year_final"
    assert status["figures"] == {
        "actual": "8",
        "target": "10",
        "comparator": "AT_LEAST",
        "unit": "シナリオ",
        "expectedToDate": None,
    }
    assert "8シナリオ" in status["reason"] and "10シナリオ以上" in status["reason"]
    assert rpa["statuses"] == [
        {"fiscalYear": 2023, "status": "ACHIEVED"},
        {"fiscalYear": 2024, "status": "OFF_TRACK"},
    ]
    assert [(p["fiscalYear"], p["actual"], p["target"]["value"]) for p in rpa["series"]] == [
        (2023, "12", "10"),
        (2024, "8", "10"),
        (2025, None, "12"),
    ]
    assert rpa["series"][2]["status"]["status"] == "NO_DATA"

    konbini = (await subgraph.data(DETAIL, viewer, key="p1.konbini"))["indicatorByKey"]
    history = [
        (t["fiscalYear"], t["value"], t["revision"], t["isCurrent"])
        for t in konbini["targetHistory"]
    ]
    assert history == [(2024, "30", 1, True), (2025, "32", 1, False), (2025, "35", 2, True)]
    assert konbini["targetHistory"][2]["reason"] == "前年度実績を踏まえ上方修正"
    fy2023 = konbini["series"][0]["measurements"]
    assert [(m["value"], m["isCurrent"]) for m in fy2023] == [("27", False), ("29", True)]
    assert fy2023[0]["supersededById"] is not None
    assert fy2023[1]["comment"] == "seeded"  # viewers read internal fields

    sns = (await subgraph.data(DETAIL, viewer, key="p1.sns"))["indicatorByKey"]
    assert sns["subSeries"] == [{"key": "p1.sns/x"}]
    sub = (await subgraph.data(DETAIL, viewer, key="p1.sns/x"))["indicatorByKey"]
    assert sub["parent"] == {"key": "p1.sns"}


async def test_the_public_sees_values_but_not_internal_fields(subgraph: Subgraph) -> None:
    public = subgraph.token("public")
    data = await subgraph.data(DETAIL, public, key="p1.konbini")
    measurements = data["indicatorByKey"]["series"][0]["measurements"]
    assert [m["value"] for m in measurements] == ["27", "29"]
    assert all(m["comment"] is None and m["reportedBy"] is None for m in measurements)


REPORT = """
mutation ($input: ReportActualInput!) {
  reportActual(input: $input) {
    duplicate
    measurement { id period value isCurrent reportedBy }
    indicator { key }
    status { fiscalYear status rule reason figures { actual expectedToDate } }
    errors { code message messageEn field }
  }
}
"""


def codes(payload: dict[str, Any]) -> list[str]:
    return [e["code"] for e in payload["errors"]]


async def test_a_department_reports_its_own_indicators_only(subgraph: Subgraph) -> None:
    it = subgraph.token("reporter", "IT推進課")
    ok = (
        await subgraph.data(
            REPORT,
            it,
            input={"indicatorKey": "p1.hours", "period": "令和6年4月", "value": "100"},
        )
    )["reportActual"]
    assert ok["errors"] == [] and ok["duplicate"] is False
    assert ok["measurement"]["period"] == "2024-04" and ok["measurement"]["isCurrent"]
    assert ok["status"]["status"] == "ON_TRACK" and ok["status"]["rule"] == "per_year_prorated"
    assert ok["status"]["figures"] == {"actual": "100", "expectedToDate": "100"}

    kumin = subgraph.token("reporter", "区民課")
    refused = (
        await subgraph.data(
            REPORT, kumin, input={"indicatorKey": "p1.hours", "period": "2024-05", "value": "1"}
        )
    )["reportActual"]
    assert codes(refused) == ["FORBIDDEN"] and refused["measurement"] is None
    assert "IT推進課" in refused["errors"][0]["message"]
    admin = subgraph.token("admin")
    by_admin = (
        await subgraph.data(
            REPORT, admin, input={"indicatorKey": "p1.hours", "period": "2024-05", "value": "90"}
        )
    )["reportActual"]
    assert by_admin["errors"] == []
    stored = await subgraph.runtime.pool.fetchval(
        "select count(*) from measurements where indicator_id = $1",
        ids.indicator_id(TENANT, "p1.hours"),
    )
    assert stored == 2


async def test_bad_reports_get_typed_errors_and_write_nothing(subgraph: Subgraph) -> None:
    it = subgraph.token("reporter", "IT推進課")

    async def attempt(**input: Any) -> list[dict[str, Any]]:
        payload = (await subgraph.data(REPORT, it, input=input))["reportActual"]
        assert payload["measurement"] is None
        return list(payload["errors"])

    before = await subgraph.runtime.pool.fetchval("select count(*) from measurements")
    [unknown] = await attempt(indicatorKey="p1.nothing", period="FY2024", value="1")
    assert unknown["code"] == "UNKNOWN_INDICATOR" and unknown["field"] == "indicatorKey"
    [unit] = await attempt(indicatorKey="p1.rpa", period="FY2024", value="1", unit="件")
    assert unit["code"] == "UNIT_MISMATCH" and unit["field"] == "unit"
    assert "単位" in unit["message"] and "unit" in unit["messageEn"]
    [text] = await attempt(indicatorKey="p1.rpa", period="FY2024", textValue="多数")
    assert text["code"] == "NON_NUMERIC_VALUE"
    [huge] = await attempt(indicatorKey="p1.rpa", period="FY2024", value="1e100000")
    assert huge["code"] == "VALUE_OUT_OF_RANGE" and huge["field"] == "value"
    [outside] = await attempt(indicatorKey="p1.rpa", period="FY2030", value="1")
    assert outside["code"] == "PERIOD_OUTSIDE_PLAN"
    [unreadable] = await attempt(indicatorKey="p1.rpa", period="いつか", value="1")
    assert unreadable["code"] == "INVALID_PERIOD"
    # The same length limits as an indicator.reported event on Kafka (comment: 2,000).
    [long] = await attempt(indicatorKey="p1.rpa", period="FY2024", value="1", comment="あ" * 2001)
    assert long["code"] == "INPUT_TOO_LONG" and long["field"] == "comment"
    assert "2000" in long["messageEn"] and "2000" in long["message"]
    after = await subgraph.runtime.pool.fetchval("select count(*) from measurements")
    assert after == before
    not_a_number = await subgraph.gql(
        REPORT, it, input={"indicatorKey": "p1.rpa", "period": "FY2024", "value": "abc"}
    )
    assert "errors" in not_a_number  # the Decimal scalar refuses it before any resolver


async def test_another_wards_indicator_is_unknown_to_a_reporter(subgraph: Subgraph) -> None:
    other_admin = subgraph.token("admin", tenant="otherku")
    defined = await subgraph.data(
        DEFINE, other_admin, input={**NEW_INDICATOR, "key": "p1.other-only"}
    )
    assert defined["defineIndicator"]["errors"] == []
    admin = subgraph.token("admin")
    payload = (
        await subgraph.data(
            REPORT, admin, input={"indicatorKey": "p1.other-only", "period": "FY2024", "value": "1"}
        )
    )["reportActual"]
    assert codes(payload) == ["UNKNOWN_INDICATOR"]
    assert "otherku" not in payload["errors"][0]["messageEn"]


async def test_a_retried_report_is_a_duplicate(subgraph: Subgraph) -> None:
    it = subgraph.token("reporter", "IT推進課")
    input = {"indicatorKey": "p1.rpa", "period": "FY2023", "value": "12", "idempotencyKey": "r-1"}
    first = (await subgraph.data(REPORT, it, input=input))["reportActual"]
    again = (await subgraph.data(REPORT, it, input=input))["reportActual"]
    assert first["duplicate"] is False and again["duplicate"] is True
    assert first["measurement"]["id"] == again["measurement"]["id"]
    changed = (await subgraph.data(REPORT, it, input={**input, "value": "13"}))["reportActual"]
    assert codes(changed) == ["IDEMPOTENCY_KEY_REUSED"]


CORRECT = """
mutation ($input: CorrectActualInput!) {
  correctActual(input: $input) {
    measurement { value isCurrent comment }
    status { status }
    errors { code field }
  }
}
"""


async def test_a_correction_supersedes_the_current_value(subgraph: Subgraph) -> None:
    it = subgraph.token("reporter", "IT推進課")
    nothing = (
        await subgraph.data(
            CORRECT,
            it,
            input={"indicatorKey": "p1.rpa", "period": "FY2025", "value": "1", "reason": "誤記"},
        )
    )["correctActual"]
    assert codes(nothing) == ["NOTHING_TO_CORRECT"]
    no_reason = (
        await subgraph.data(
            CORRECT,
            it,
            input={"indicatorKey": "p1.rpa", "period": "FY2024", "value": "11", "reason": " "},
        )
    )["correctActual"]
    assert codes(no_reason) == ["REASON_REQUIRED"]
    fixed = (
        await subgraph.data(
            CORRECT,
            it,
            input={
                "indicatorKey": "p1.rpa",
                "period": "FY2024",
                "value": "11",
                "reason": "集計漏れの訂正",
            },
        )
    )["correctActual"]
    assert fixed["errors"] == []
    assert fixed["measurement"] == {"value": "11", "isCurrent": True, "comment": "集計漏れの訂正"}
    assert fixed["status"] == {"status": "ACHIEVED"}
    history = await subgraph.runtime.pool.fetch(
        """select value, is_current, is_correction from measurements
           where indicator_id = $1 and period = 'FY2024' order by id""",
        ids.indicator_id(TENANT, "p1.rpa"),
    )
    assert [(r["value"], r["is_current"], r["is_correction"]) for r in history] == [
        (8, False, False),
        (11, True, True),
    ]


DEFINE = """
mutation ($input: DefineIndicatorInput!) {
  defineIndicator(input: $input) {
    created
    indicator { key tenant targets { fiscalYear value comparator } measureIds }
    errors { code field message messageEn }
  }
}
"""

NEW_INDICATOR: dict[str, Any] = {
    "key": "p1.chatbot",
    "title": "チャットボット応答件数",
    "unit": "件",
    "periodStart": 2024,
    "periodEnd": 2025,
    "granularity": "MONTH",
    "cadence": "MONTHLY",
    "ownerDepartments": ["IT推進課"],
    "measureIds": [str(ids.node_id(TENANT, "p1", "1"))],
    "targets": [
        {"fiscalYear": 2024, "value": "12000", "comparator": "AT_LEAST"},
        {"fiscalYear": 2025, "value": "15000", "comparator": "AT_LEAST"},
    ],
}


async def test_admins_define_indicators_and_changed_targets_become_revisions(
    subgraph: Subgraph,
) -> None:
    admin = subgraph.token("admin")
    created = (await subgraph.data(DEFINE, admin, input=NEW_INDICATOR))["defineIndicator"]
    assert created["errors"] == [] and created["created"] is True
    assert created["indicator"]["tenant"] == TENANT
    again = {
        **NEW_INDICATOR,
        "targets": [
            {"fiscalYear": 2024, "value": "12000", "comparator": "AT_LEAST"},
            {"fiscalYear": 2025, "value": "18000", "comparator": "AT_LEAST"},
        ],
        "revisionReason": "利用拡大に伴う上方修正",
    }
    updated = (await subgraph.data(DEFINE, admin, input=again))["defineIndicator"]
    assert updated["created"] is False
    assert [t["value"] for t in updated["indicator"]["targets"]] == ["12000", "18000"]
    rows = await subgraph.runtime.pool.fetch(
        "select value, reason from targets where indicator_id = $1 and fiscal_year = 2025 "
        "order by revision",
        ids.indicator_id(TENANT, "p1.chatbot"),
    )
    assert [(r["value"], r["reason"]) for r in rows] == [
        (15000, None),
        (18000, "利用拡大に伴う上方修正"),
    ]
    reporter = subgraph.token("reporter", "IT推進課")
    refused = (await subgraph.data(DEFINE, reporter, input=NEW_INDICATOR))["defineIndicator"]
    assert codes(refused) == ["FORBIDDEN"]
    invalid = (
        await subgraph.data(
            DEFINE,
            admin,
            input={
                **NEW_INDICATOR,
                "key": "Bad Key",
                "targets": [{"fiscalYear": 2030, "value": "1"}, {"fiscalYear": 2024}],
            },
        )
    )["defineIndicator"]
    assert codes(invalid) == ["INVALID_KEY"]
    invalid_targets = (
        await subgraph.data(
            DEFINE,
            admin,
            input={
                **NEW_INDICATOR,
                "key": "p1.invalid",
                "targets": [{"fiscalYear": 2030, "value": "1"}, {"fiscalYear": 2024}],
            },
        )
    )["defineIndicator"]
    assert [(e["code"], e["field"]) for e in invalid_targets["errors"]] == [
        ("TARGET_OUTSIDE_PLAN", "targets[0].fiscalYear"),
        ("EMPTY_TARGET", "targets[1].value"),
    ]
    assert (
        await subgraph.runtime.pool.fetchval(
            "select count(*) from indicators where key = 'p1.invalid'"
        )
        == 0
    )


REVISE = """
mutation ($input: ReviseTargetInput!) {
  reviseTarget(input: $input) {
    target { fiscalYear value revision reason isCurrent }
    indicator { targetHistory { fiscalYear value revision isCurrent } }
    errors { code field }
  }
}
"""


async def test_revising_a_target_keeps_the_old_one(subgraph: Subgraph) -> None:
    admin = subgraph.token("admin")
    rpa = str(ids.indicator_id(TENANT, "p1.rpa"))
    no_reason = (
        await subgraph.data(
            REVISE,
            admin,
            input={"indicatorId": rpa, "fiscalYear": 2025, "value": "14", "reason": ""},
        )
    )["reviseTarget"]
    assert codes(no_reason) == ["REASON_REQUIRED"]
    revised = (
        await subgraph.data(
            REVISE,
            admin,
            input={
                "indicatorId": rpa,
                "fiscalYear": 2025,
                "value": "14",
                "comparator": "AT_LEAST",
                "reason": "中間見直し",
            },
        )
    )["reviseTarget"]
    assert revised["errors"] == []
    assert revised["target"] == {
        "fiscalYear": 2025,
        "value": "14",
        "revision": 2,
        "reason": "中間見直し",
        "isCurrent": True,
    }
    fy2025 = [t for t in revised["indicator"]["targetHistory"] if t["fiscalYear"] == 2025]
    assert [(t["value"], t["isCurrent"]) for t in fy2025] == [("12", False), ("14", True)]
    same = (
        await subgraph.data(
            REVISE,
            admin,
            input={
                "indicatorId": rpa,
                "fiscalYear": 2025,
                "value": "14",
                "comparator": "AT_LEAST",
                "reason": "再送",
            },
        )
    )["reviseTarget"]
    assert codes(same) == ["TARGET_UNCHANGED"]
    viewer = subgraph.token("viewer")
    refused = (
        await subgraph.data(
            REVISE,
            viewer,
            input={"indicatorId": rpa, "fiscalYear": 2025, "value": "20", "reason": "x"},
        )
    )["reviseTarget"]
    assert codes(refused) == ["FORBIDDEN"]


async def test_one_ward_never_sees_another_wards_indicators(subgraph: Subgraph) -> None:
    other = subgraph.token("viewer", tenant="otherku")
    rpa = str(ids.indicator_id(TENANT, "p1.rpa"))
    data = await subgraph.data(
        'query ($id: ID!) { indicator(id: $id) { key } indicatorByKey(key: "p1.rpa") { id } }',
        other,
        id=rpa,
    )
    assert data["indicator"] is None
    assert data["indicatorByKey"]["id"] == str(ids.indicator_id("otherku", "p1.rpa"))
    listed = await subgraph.data(LIST, other)
    assert "p1.chatbot" not in keys(listed)  # defined in gqlku only
    asked = await subgraph.gql('query { indicators(tenant: "gqlku") { totalCount } }', other)
    assert asked["errors"][0]["message"].startswith("FORBIDDEN")
    anonymous = await subgraph.gql("query { indicators { totalCount } }")
    assert "errors" in anonymous
    entities = await subgraph.data(
        ENTITIES,
        other,
        representations=[{"__typename": "Indicator", "id": rpa}],
    )
    assert entities["_entities"] == [None]


ENTITIES = """
query ($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Measure { id indicators { key status { status } } }
    ... on Indicator { id key }
  }
}
"""


async def test_measures_are_extended_with_their_indicators_in_one_query(
    subgraph: Subgraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    queries: list[str] = []
    original = asyncpg.connection.Connection.fetch

    async def counting(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        if "indicator_link_ancestors" in query:
            queries.append(query)
        return await original(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.connection.Connection, "fetch", counting)
    viewer = subgraph.token("viewer")
    measures = [str(ids.node_id(TENANT, "p1", code)) for code in ("1", "2", "3")]
    unknown = [str(ids.node_id(TENANT, "p1", f"x{i}")) for i in range(40)]
    for representations in (measures[:1], measures + unknown):
        queries.clear()
        data = await subgraph.data(
            ENTITIES,
            viewer,
            representations=[{"__typename": "Measure", "id": m} for m in representations],
        )
        assert len(queries) == 1
        assert len(data["_entities"]) == len(representations)
    first, second, third = data["_entities"][:3]
    linked = [i["key"] for i in first["indicators"] if i["key"] != "p1.chatbot"]  # defined above
    assert linked == ["p1.hours", "p1.rpa"]
    assert [i["key"] for i in second["indicators"]] == ["p1.cashless", "p1.konbini"]
    assert [i["key"] for i in third["indicators"]] == ["p1.sns", "p1.sns/x"]
    assert all(e["indicators"] == [] for e in data["_entities"][3:])
    indicators = await subgraph.data(
        ENTITIES,
        viewer,
        representations=[
            {"__typename": "Indicator", "id": str(ids.indicator_id(TENANT, "p1.rpa"))},
            {"__typename": "Indicator", "id": "not-a-uuid"},
        ],
    )
    assert indicators["_entities"] == [
        {"id": str(ids.indicator_id(TENANT, "p1.rpa")), "key": "p1.rpa"},
        None,
    ]


async def test_the_subgraph_sdl_declares_the_entities(subgraph: Subgraph) -> None:
    sdl = (await subgraph.data("{ _service { sdl } }"))["_service"]["sdl"]
    assert 'type Indicator @key(fields: "id")' in sdl
    assert 'type Measure @key(fields: "id")' in sdl
    assert "federation/v2.7" in sdl
