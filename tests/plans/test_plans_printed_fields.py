"""Plan-file fields for what real plans print: code variants, expected effects, tentative
schedule cells, national-framework tags (filtered, exported, in the workbook), 素案/案 as plan
states and more plan kinds — imported, exported back unchanged and served by GraphQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from suishin.contracts import ids
from suishin.contracts.planfile import PlanFile
from suishin.devstack.testing import Infrastructure, isolated_settings, started
from suishin.kit.auth import Principal, Role, issue_token
from suishin.plans import commands
from suishin.plans.app import build
from suishin.plans.domain.tree import code_key, resolve_path
from suishin.plans.exporter import export_plan_file
from suishin.plans.importer import import_plan_file
from suishin.plans.settings import PlansSettings
from suishin.plans.xlsx import progress_workbook

from .conftest import sample_plan_data

TENANT = "printku"


def test_printed_code_variants_share_one_key() -> None:
    assert code_key("取組 10") == code_key("取組Ⅹ") == code_key("取組１０") == "取組10"
    assert code_key("Ⅲ-2") == "3-2" and code_key("IT") == "IT"
    tree = {
        None: [("取組10", "取組 10", ["取組Ⅹ"]), ("取組9", "取組 9", [])],
        "取組10": [("取組10/1", "①", [])],
    }
    assert resolve_path("取組Ⅹ/1", lambda p: tree.get(p, [])) == "取組10/1"
    assert resolve_path("取組 9", lambda p: tree.get(p, [])) == "取組9"
    assert resolve_path("取組11", lambda p: tree.get(p, [])) is None


def printed_plan(**plan: Any) -> dict[str, Any]:
    data = sample_plan_data()
    data["tenant"] = {"slug": TENANT, "name": "印刷区"}
    data["plan"].update({"kind": "推進計画", **plan})
    first, second = data["nodes"][0]["children"]
    first["code_variants"] = ["No.Ⅰ"]
    first["expected_effects"] = ["定型業務の時間削減", "職員の創造的業務への転換"]
    first["frameworks"] = [
        {"framework": "jichitai_dx", "item": "(4) 自治体の行政手続のオンライン化"},
        {"framework": "kanmin_data", "item": "第11条", "label": "手続における情報通信の技術の利用"},
    ]
    first["schedule"].append(
        {"fiscal_year": 2023, "label": "運用", "phase": "running", "tentative": "continue"}
    )
    second["frameworks"] = [{"framework": "kanmin_data", "item": "第11条"}]
    second["schedule"] = [
        {"fiscal_year": 2023, "label": "検討", "phase": "planning", "tentative": "undecided"}
    ]
    return data


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def served(infra: Infrastructure) -> AsyncIterator[tuple[Any, httpx.AsyncClient, Any]]:
    settings = isolated_settings(PlansSettings, infra, milestone_sweep_enabled=False)
    runtime, app = build(settings)
    async with started(runtime):
        await import_plan_file(runtime.pool, PlanFile.model_validate(printed_plan()))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield runtime, client, settings


async def gql(client: httpx.AsyncClient, query: str, token: str | None = None) -> Any:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.mark.integration
async def test_the_printed_fields_round_trip_through_import_and_export(served: Any) -> None:
    runtime, _client, _settings = served
    exported = await export_plan_file(runtime.pool, TENANT, "p1")
    assert exported == PlanFile.model_validate(printed_plan())


@pytest.mark.integration
async def test_graphql_serves_them_and_filters_by_framework(served: Any) -> None:
    _runtime, client, _settings = served
    plan_id = ids.plan_id(TENANT, "p1")
    data = await gql(
        client,
        f"""{{ plan(id: "{plan_id}") {{ kind
              node(path: "基本方針Ⅰ/No.Ⅰ") {{ path measure {{ codeVariants expectedEffects
                frameworks {{ framework item label }}
                schedule {{ fiscalYear tentative }} }} }} }}
            dx: measures(planId: "{plan_id}", filter: {{framework: "jichitai_dx"}}) {{
              totalCount edges {{ node {{ code }} }} }}
            law11: measures(planId: "{plan_id}", filter: {{framework: "kanmin_data:第11条"}}) {{
              totalCount }}
            none: measures(planId: "{plan_id}", filter: {{framework: "kanmin_data:第12条"}}) {{
              totalCount }} }}""",
    )
    assert data["plan"]["kind"] == "推進計画"
    node = data["plan"]["node"]
    assert node["path"] == "基本方針Ⅰ/1"  # the printed variant No.Ⅰ names measure 1
    measure = node["measure"]
    assert measure["codeVariants"] == ["No.Ⅰ"]
    assert measure["expectedEffects"] == ["定型業務の時間削減", "職員の創造的業務への転換"]
    assert measure["frameworks"][1] == {
        "framework": "kanmin_data",
        "item": "第11条",
        "label": "手続における情報通信の技術の利用",
    }
    assert [s["tentative"] for s in measure["schedule"]] == [None, None, "continue"]
    assert data["dx"]["totalCount"] == 1 and data["dx"]["edges"][0]["node"]["code"] == "№ 1"
    assert (data["law11"]["totalCount"], data["none"]["totalCount"]) == (2, 0)


@pytest.mark.integration
async def test_the_workbook_has_a_framework_column(served: Any) -> None:
    runtime, _client, _settings = served
    sheet = (await progress_workbook(runtime.pool, TENANT, "p1"))["進捗状況一覧"]
    header = [c.value for c in sheet[2]]
    # after the yearly columns, before the progress reports' columns
    column = header.index("国の計画との対応")
    assert header[column - 1].endswith("評価") and header[column + 1].endswith("進捗報告 実績")
    rows = list(sheet.iter_rows(min_row=3, values_only=True))
    assert rows[0][column] == (
        "自治体DX推進計画 (4) 自治体の行政手続のオンライン化\n官民データ活用推進基本法 第11条"
    )


@pytest.mark.integration
async def test_outline_and_proposal_are_editions_before_adoption(served: Any) -> None:
    runtime, client, settings = served
    await import_plan_file(
        runtime.pool, PlanFile.model_validate(printed_plan(key="p2", state="outline"))
    )
    plan_id = ids.plan_id(TENANT, "p2")
    query = f'{{ plan(id: "{plan_id}") {{ state publishedAt }} }}'
    assert (await gql(client, query))["plan"] is None  # 素案: internal
    staff = issue_token(settings, subject="v", tenant=TENANT, roles=["viewer"])
    assert (await gql(client, query, staff))["plan"] == {"state": "OUTLINE", "publishedAt": None}
    await import_plan_file(
        runtime.pool,
        PlanFile.model_validate(printed_plan(key="p2", state="proposal")),
    )
    assert (await gql(client, query, staff))["plan"]["state"] == "PROPOSAL"
    admin = Principal("admin", TENANT, frozenset({Role.ADMIN}))
    async with runtime.pool.acquire() as conn, conn.transaction():
        await commands.publish_plan(conn, admin, plan_id, "議決")
    published = (await gql(client, query))["plan"]
    assert published["state"] == "PUBLISHED" and published["publishedAt"] is not None
