"""The gateway in front of the real subgraphs (plans, indicators, notifications running
in-process on the test infrastructure): whole-plan queries with a call count that depends on the
query's shape only, reports by a department reporter, typed errors, and tenant isolation."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids
from suishin.contracts.planfile import load_plan_file
from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.gateway.app import build as build_gateway
from suishin.gateway.settings import GatewaySettings
from suishin.indicators.app import build as build_indicators
from suishin.indicators.importer import import_indicator_definitions
from suishin.indicators.settings import IndicatorsSettings
from suishin.kit.auth import issue_token
from suishin.notifications.app import build as build_notifications
from suishin.notifications.settings import NotificationsSettings
from suishin.plans.app import build as build_plans
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

pytestmark = pytest.mark.integration


def synthetic_plan(
    tenant: str, key: str, measures: int, *, state: str = "published", department: str = "IT推進課"
) -> dict[str, Any]:
    """A plan of ``measures`` measures in groups of ten, one indicator per measure."""
    groups = []
    indicators = []
    for g in range((measures + 9) // 10):
        children = []
        for i in range(g * 10, min(measures, g * 10 + 10)):
            children.append(
                {
                    "code": f"№ {i + 1}",
                    "normalized_code": str(i + 1),
                    "kind": "measure",
                    "level": 1,
                    "title": f"施策{i + 1}",
                    "owners": [department],
                    "status": "継続",
                }
            )
            indicators.append(
                {
                    "key": f"{key}.i{i + 1}",
                    "title": f"指標{i + 1}",
                    "nodes": [f"目標{g + 1}/{i + 1}"],
                    "unit": "件",
                    "targets": [
                        {"fiscal_year": 2024, "comparator": "gte", "value": 100},
                        {"fiscal_year": 2025, "comparator": "gte", "value": 120},
                    ],
                }
            )
        groups.append(
            {
                "code": f"目標{g + 1}",
                "kind": "group",
                "level": 0,
                "title": f"目標{g + 1}",
                "children": children,
            }
        )
    return {
        "format_version": 1,
        "tenant": {"slug": tenant, "name": tenant},
        "grading_scale": {
            "rule": "itabashi-dx2025-late",
            "grades": [
                {"code": "achieved_plus", "label": "達成＋"},
                {"code": "achieved", "label": "達成"},
                {"code": "not_achieved", "label": "未達成", "failing": True},
            ],
        },
        "departments": [
            {"code": "IT推進課", "name": "IT推進課"},
            {"code": "区民課", "name": "区民課"},
        ],
        "plan": {
            "key": key,
            "title": f"{tenant} {key}",
            "kind": "実施計画",
            "period": {"start": 2024, "end": 2025},
            "state": state,
            "level_labels": ["目標", "施策"],
        },
        "nodes": groups,
        "indicators": indicators,
    }


def with_goal_indicator(data: dict[str, Any]) -> None:
    """An indicator attached to the goal 目標1 itself; the plan names no owner for the goal,
    so its default owner (区民課) answers for it."""
    data["plan"]["default_owner"] = "区民課"
    for group in data["nodes"]:
        for child in group["children"]:
            child["owners"] = []
    data["indicators"].append(
        {
            "key": "goals.g1",
            "title": "区民満足度",
            "nodes": ["目標1"],
            "unit": "%",
            "targets": [{"fiscal_year": 2025, "comparator": "gte", "value": 60}],
        }
    )


@dataclass
class Platform:
    client: httpx.AsyncClient
    calls: list[dict[str, Any]]
    settings: GatewaySettings

    def token(
        self, tenant: str = "itabashi", *roles: str, departments: tuple[str, ...] = ()
    ) -> dict[str, str]:
        token = issue_token(
            self.settings,
            subject=f"{'-'.join(roles) or 'viewer'}@{tenant}",
            tenant=tenant,
            roles=list(roles or ("viewer",)),
            departments=list(departments),
        )
        return {"authorization": f"Bearer {token}"}

    async def query(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers or {}
        )
        return response.json()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def platform(
    infra: Infrastructure, recording: Any, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Platform]:
    prefix = "tgw" + uuid.uuid4().hex[:6]
    plans_rt, plans_app = build_plans(isolated_settings(PlansSettings, infra, prefix=prefix))
    ind_rt, ind_app = build_indicators(
        isolated_settings(IndicatorsSettings, infra, prefix=prefix, stale_sweep_enabled=False)
    )
    notes_rt, notes_app = build_notifications(
        isolated_settings(NotificationsSettings, infra, prefix=prefix),
        consume=False,
        background=False,
    )
    folder = tmp_path_factory.mktemp("plans")
    async with started(plans_rt), started(ind_rt), started(notes_rt):
        for tenant, key, size, state in (
            ("itabashi", "small", 10, "published"),
            ("itabashi", "big", 200, "published"),
            ("bunkyo", "public", 3, "published"),
            ("bunkyo", "draft", 3, "draft"),
            ("setagaya", "goals", 3, "published"),
        ):
            path = Path(folder) / f"{tenant}-{key}.json"
            data = synthetic_plan(tenant, key, size, state=state)
            if key == "goals":
                with_goal_indicator(data)
            path.write_text(json.dumps(data), "utf-8")
            plan_file = load_plan_file(path)
            await import_plan_file(plans_rt.pool, plan_file)
            await import_indicator_definitions(ind_rt.pool, plan_file)
        transports, calls = recording(
            {
                "plans": httpx.ASGITransport(app=plans_app),
                "indicators": httpx.ASGITransport(app=ind_app),
                "notifications": httpx.ASGITransport(app=notes_app),
            }
        )
        settings = GatewaySettings(live_enabled=False)
        app = build_gateway(settings, transports=transports)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as client:
            yield Platform(client, calls, settings)


WHOLE_PLAN = """
query WholePlan($id: ID!, $fy: Int) {
  plan(id: $id) {
    title state levelLabels measureCount
    nodes {
      code title kind
      children {
        code title kind
        measure {
          code title status owners { departmentCode isLead }
          grades { fiscalYear grade label }
          indicators {
            key title unit
            targets { fiscalYear value comparator }
            status(fiscalYear: $fy) { status statusLabel reason figures { actual target } }
            series { fiscalYear actual status { status } }
          }
        }
      }
    }
  }
}
"""


async def test_whole_plan_costs_the_same_calls_for_10_and_200_measures(
    platform: Platform,
) -> None:
    counts = {}
    for key, size in (("small", 10), ("big", 200)):
        platform.calls.clear()
        plan_id = str(ids.plan_id("itabashi", key))
        result = await platform.query(
            WHOLE_PLAN, {"id": plan_id, "fy": 2024}, platform.token("itabashi", "executive")
        )
        assert "errors" not in result, result
        plan = result["data"]["plan"]
        measures = [c["measure"] for n in plan["nodes"] for c in n["children"]]
        assert len(measures) == size == plan["measureCount"]
        indicator = measures[-1]["indicators"][0]
        assert indicator["key"] == f"{key}.i{size}"
        assert indicator["targets"][0]["value"] in ("100", "100.0", "100.00")
        assert indicator["status"]["status"] == "NO_DATA"
        counts[size] = len(platform.calls)
    assert counts[10] == counts[200] == 2, counts  # plans once, indicators once (_entities)
    subgraphs = [c["subgraph"] for c in platform.calls]
    assert subgraphs == ["plans", "indicators"]
    assert "_entities" in platform.calls[1]["query"]


async def test_a_department_reporter_reports_an_actual(platform: Platform) -> None:
    report = """
    mutation Report($input: ReportActualInput!) {
      reportActual(input: $input) {
        duplicate
        measurement { period value }
        status { status }
        errors { code message messageEn field }
      }
    }"""
    variables = {"input": {"indicatorKey": "small.i1", "period": "FY2024", "value": "130"}}
    own = platform.token("itabashi", "reporter", departments=("IT推進課",))
    result = await platform.query(report, variables, own)
    assert "errors" not in result, result
    payload = result["data"]["reportActual"]
    assert payload["errors"] == []
    assert payload["measurement"]["period"] == "FY2024"
    assert payload["status"]["status"] == "ACHIEVED"
    # The caller's token reached the service (which checks the department again).
    assert platform.calls[-1]["authorization"] == own["authorization"]

    other_department = platform.token("itabashi", "reporter", departments=("区民課",))
    refused = await platform.query(report, variables, other_department)
    errors = refused.get("errors") or refused["data"]["reportActual"]["errors"]
    assert errors and "FORBIDDEN" in json.dumps(errors)


async def test_validation_errors_are_typed_and_bilingual(platform: Platform) -> None:
    result = await platform.query(
        """mutation { reportActual(input: {indicatorKey: "small.i2", period: "FY1999", value: "1"})
        { errors { code message messageEn field } } }""",
        headers=platform.token("itabashi", "admin"),
    )
    errors = result["data"]["reportActual"]["errors"]
    assert errors, result
    assert all(e["code"] and e["message"] and e["messageEn"] for e in errors)
    assert any(e["field"] for e in errors)


async def test_cross_tenant_reads_and_writes_are_refused(platform: Platform) -> None:
    itabashi = platform.token("itabashi", "admin")
    draft = str(ids.plan_id("bunkyo", "draft"))
    published = str(ids.plan_id("bunkyo", "public"))
    # Naming another ward: refused at the gateway.
    named = await platform.query('{ plans(tenant: "bunkyo") { id } }', headers=itabashi)
    assert named["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # Another ward's plan by id, draft or published: never returned with an Itabashi token.
    for plan_id in (draft, published):
        result = await platform.query(
            "query($id: ID!) { plan(id: $id) { title } }", {"id": plan_id}, itabashi
        )
        assert result["data"] is None or result["data"]["plan"] is None, result
    # Another ward's indicator: not visible, not reportable.
    other = await platform.query('{ indicatorByKey(key: "draft.i1") { title } }', headers=itabashi)
    assert other["data"]["indicatorByKey"] is None
    write = await platform.query(
        """mutation { reportActual(input: {indicatorKey: "public.i1", period: "FY2024", value: "1"})
        { errors { code } measurement { value } } }""",
        headers=itabashi,
    )
    payload = (write.get("data") or {}).get("reportActual")
    assert payload is None or (payload["measurement"] is None and payload["errors"])
    # Anonymous callers read published plans of any ward, never drafts.
    public = await platform.query('{ plans(tenant: "bunkyo") { key state } }')
    assert [p["key"] for p in public["data"]["plans"]] == ["public"]


async def test_inbox_reads_through_the_gateway(platform: Platform) -> None:
    result = await platform.query(
        "{ unreadCount myInbox(first: 5) { totalCount edges { node { id title } } } }",
        headers=platform.token("itabashi", "executive"),
    )
    assert "errors" not in result, result
    assert result["data"]["unreadCount"] == 0
    assert result["data"]["myInbox"]["totalCount"] == 0


async def test_the_durable_ingest_endpoint_is_forwarded_to_the_indicators_service(
    platform: Platform,
) -> None:
    """``POST /ingest/indicator-reports`` on the gateway reaches the indicators service, which
    authenticates the token and answers per item."""
    item = {
        "indicator_key": "no-such-indicator",
        "period": "FY2024",
        "value": "1",
        "source": "rpa-log",
        "idempotency_key": "via-gateway-1",
    }
    token = issue_token(
        platform.settings, subject="rpa@itabashi", tenant="itabashi", roles=["admin"]
    )
    answer = await platform.client.post(
        "/ingest/indicator-reports", json=[item], headers={"authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    assert [(r["status"], r["reason"]) for r in answer.json()["results"]] == [
        ("rejected", "unknown_indicator")
    ]
    anonymous = await platform.client.post("/ingest/indicator-reports", json=[item])
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "UNAUTHENTICATED"


GOALS = """
query Goals($tenant: String!) {
  planByKey(tenant: $tenant, key: "goals") {
    defaultOwner
    nodes {
      code kind
      indicators { key title targets { fiscalYear value } }
      goalStatuses { fiscalYear status }
      children { measure { code reportingOwners { shown } indicators { key } } }
    }
  }
}
"""


async def test_indicators_attached_to_a_goal_appear_under_the_goal(platform: Platform) -> None:
    platform.calls.clear()
    result = await platform.query(GOALS, {"tenant": "setagaya"}, platform.token("setagaya"))
    assert "errors" not in result, result
    plan = result["data"]["planByKey"]
    assert plan["defaultOwner"] == "区民課"
    [goal] = plan["nodes"]
    assert goal["indicators"] == [
        {"key": "goals.g1", "title": "区民満足度", "targets": [{"fiscalYear": 2025, "value": "60"}]}
    ]
    assert goal["goalStatuses"] == []  # nothing reported yet
    measures = [c["measure"] for c in goal["children"]]
    # the measures keep their own indicators; the goal's is not counted under them
    assert [[i["key"] for i in m["indicators"]] for m in measures] == [
        ["goals.i1"],
        ["goals.i2"],
        ["goals.i3"],
    ]
    assert {m["reportingOwners"]["shown"] for m in measures} == {"区民課（計画の既定の所管）"}
    # one call per subgraph and position: plans, then the goals' and the measures' indicators
    assert [c["subgraph"] for c in platform.calls] == ["plans", "indicators", "indicators"]
