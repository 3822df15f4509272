"""``measures(filter: {reportingDepartment})``: the measures a department answers for — its own
所管課, else the nearest ancestor's, else the plan's default owner — the same rule as
``Measure.reportingOwners`` (checked against it for every department of the plan), with 文京区's
plan, which names a default owner (情報政策課) and one measure's own 所管課."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids
from suishin.contracts.planfile import PlanFile
from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.kit.auth import issue_token
from suishin.plans.app import build
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings

from .conftest import dataset, sample_plan_data

pytestmark = pytest.mark.integration

TENANT = "filterku"


def inherited_plan() -> dict[str, Any]:
    """A 基本方針 that names its 所管課 (区民課) above a measure that names none, and a plan
    default (政策経営部) for the measures under a 基本方針 without owners."""
    data = sample_plan_data()
    data["tenant"] = {"slug": TENANT, "name": "絞込区"}
    data["plan"]["default_owner"] = "政策経営部"
    data["published_evaluations"] = None
    first = data["nodes"][0]
    first["owners"] = ["区民課"]
    first["children"][1]["owners"] = []  # № 2 answers through 基本方針Ⅰ
    for node in data["nodes"][1:]:
        node["owners"] = []
        for child in node.get("children") or []:
            child["owners"] = []
    return data


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(infra: Infrastructure) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    settings = isolated_settings(PlansSettings, infra, milestone_sweep_enabled=False)
    runtime, app = build(settings)
    async with started(runtime):
        await import_plan_file(runtime.pool, PlanFile.model_validate(inherited_plan()))
        await import_plan_file(runtime.pool, dataset("bunkyo-ict-vision-2019"))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client, settings


async def gql(client: httpx.AsyncClient, token: str, query: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


ALL = """query($plan: ID!) { measures(planId: $plan, first: 200) {
  edges { node { id code reportingOwners { departmentCodes isPlanDefault } } } } }"""
FILTERED = """query($plan: ID!, $d: String!) {
  own: measures(planId: $plan, filter: {department: $d}, first: 200) { totalCount }
  answers: measures(planId: $plan, filter: {reportingDepartment: $d}, first: 200) {
    totalCount edges { node { id } } } }"""


async def answering(client: httpx.AsyncClient, token: str, plan_id: str) -> dict[str, set[str]]:
    """Per department: the measures whose reportingOwners name it (the rule as served)."""
    out: dict[str, set[str]] = {}
    for edge in (await gql(client, token, ALL, plan=plan_id))["measures"]["edges"]:
        for code in edge["node"]["reportingOwners"]["departmentCodes"]:
            out.setdefault(code, set()).add(edge["node"]["id"])
    return out


async def test_bunkyos_default_owner_answers_for_the_measures_that_name_no_owner(
    served: Any,
) -> None:
    client, settings = served
    token = issue_token(settings, subject="viewer@bunkyo", tenant="bunkyo", roles=["viewer"])
    plan_id = str(ids.plan_id("bunkyo", "ict-vision-2019"))
    expected = await answering(client, token, plan_id)
    assert set(expected) == {"情報政策課"}
    data = await gql(client, token, FILTERED, plan=plan_id, d="情報政策課")
    # the 所管課 filter finds only the measure that names 情報政策課 itself
    assert data["own"]["totalCount"] == 1
    found = {e["node"]["id"] for e in data["answers"]["edges"]}
    assert found == expected["情報政策課"] and len(found) == data["answers"]["totalCount"] > 1
    nobody = await gql(client, token, FILTERED, plan=plan_id, d="総務課")
    assert nobody["answers"]["totalCount"] == 0


async def test_the_filter_follows_the_own_then_ancestor_then_default_rule(served: Any) -> None:
    client, settings = served
    token = issue_token(settings, subject="viewer@filterku", tenant=TENANT, roles=["viewer"])
    plan_id = str(ids.plan_id(TENANT, "p1"))
    expected = await answering(client, token, plan_id)
    second = str(ids.node_id(TENANT, "p1", "基本方針Ⅰ/2"))
    first = str(ids.node_id(TENANT, "p1", "基本方針Ⅰ/1"))
    assert second in expected["区民課"] and first in expected["区民課"]
    assert "政策経営部" in expected  # the plan's default owner answers for the rest
    for department in ("区民課", "IT推進課", "政策経営部", "子育て支援課"):
        data = await gql(client, token, FILTERED, plan=plan_id, d=department)
        found = {e["node"]["id"] for e in data["answers"]["edges"]}
        assert found == expected.get(department, set()), department
    # 区民課 answers for № 2 only through its 基本方針: the 所管課 filter does not find it
    own = await gql(client, token, FILTERED, plan=plan_id, d="区民課")
    assert own["own"]["totalCount"] == 1 and own["answers"]["totalCount"] == 2
