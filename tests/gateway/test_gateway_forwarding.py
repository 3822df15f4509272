"""The forwarding engine against two small federation subgraphs served over ASGI.

These subgraphs are deliberately tiny (not the real services) so that the engine's rules can be
checked one by one: sub-selection forwarding, aliases, variables, fragments, entity batching,
error mapping, pagination. The real subgraphs are exercised in test_gateway_platform.py.
"""

from __future__ import annotations

import enum
from typing import Any

import httpx
import pytest
import strawberry
from strawberry.asgi import GraphQL
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from suishin.gateway.context import GatewayContext
from suishin.gateway.loaders import EntityLoaders
from suishin.gateway.remote import ListPage, forwarded, remote, remote_method, remote_type
from suishin.gateway.scalars import SCALAR_MAP
from suishin.gateway.settings import GatewaySettings
from suishin.gateway.subgraphs import Subgraphs
from suishin.kit.auth import ANONYMOUS

# --- two subgraphs ------------------------------------------------------------------------------

MEASURES = {f"m{i}": {"id": f"m{i}", "code": str(i), "title": f"施策{i}"} for i in range(300)}


@strawberry.federation.type(keys=["id"], name="Measure")
class SgMeasure:
    id: strawberry.ID
    code: str
    title: str

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> SgMeasure:
        return SgMeasure(**MEASURES[str(id)])


@strawberry.federation.type(keys=["id"], name="Plan")
class SgPlan:
    id: strawberry.ID
    title: str
    size: strawberry.Private[int]

    @strawberry.field
    def measures(self) -> list[SgMeasure]:
        return [SgMeasure(**MEASURES[f"m{i}"]) for i in range(self.size)]


@strawberry.type(name="Query")
class PlansQuery:
    @strawberry.field
    def plan(self, id: strawberry.ID, size: int = 3) -> SgPlan | None:
        if id == "missing":
            return None
        if id == "boom":
            raise ValueError("FORBIDDEN: You cannot access http://10.0.0.7:4001/x / 禁止です")
        return SgPlan(id=id, title=f"計画 {id}", size=size)


@strawberry.enum(name="Status")
class Status(enum.Enum):
    ON_TRACK = "on_track"
    OFF_TRACK = "off_track"


@strawberry.type(name="Indicator")
class SgIndicator:
    id: strawberry.ID
    title: str
    measure_id: strawberry.Private[str]

    @strawberry.field
    def status(self, fiscal_year: int) -> Status:
        return Status.ON_TRACK if fiscal_year % 2 == 0 else Status.OFF_TRACK


@strawberry.federation.type(keys=["id"], name="Measure")
class SgMeasureIndicators:
    id: strawberry.ID

    @strawberry.field
    def indicators(self) -> list[SgIndicator]:
        if self.id == "m299":
            raise ValueError("NOT_FOUND: no indicators / 指標がありません")
        return [
            SgIndicator(id=f"{self.id}-k{j}", title=f"指標{j}", measure_id=self.id)
            for j in range(2)
        ]

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> SgMeasureIndicators:
        return SgMeasureIndicators(id=id)


@strawberry.type(name="Query")
class IndicatorsQuery:
    @strawberry.field
    def ping(self) -> str:
        return "pong"


plans_subgraph = strawberry.federation.Schema(query=PlansQuery, federation_version="2.7")
indicators_subgraph = strawberry.federation.Schema(
    query=IndicatorsQuery, types=[SgMeasureIndicators], federation_version="2.7"
)

# --- the gateway side ------------------------------------------------------------------------


@remote_type(description="An indicator.", name="Indicator")
class GwIndicator:
    id: strawberry.ID = remote("Id.")
    title: str = remote("Title.")

    @remote_method("Status in a year.")
    def status(self, info: Info[Any, Any], fiscal_year: int) -> Status: ...


@remote_type(description="A measure.", name="Measure")
class GwMeasure:
    id: strawberry.ID = remote("Id.")
    code: str = remote("Code.")
    title: str = remote("Title.")
    indicators: list[GwIndicator] = remote("Indicators.", subgraph="indicators")


@remote_type(description="A plan.", name="Plan")
class GwPlan:
    id: strawberry.ID = remote("Id.")
    title: str = remote("Title.")
    measures: list[GwMeasure] = remote("All measures.")
    measure_page: ListPage[GwMeasure] = remote("Measures, paged.", page_of="measures")


@strawberry.type
class GwQuery:
    @forwarded("plans", description="A plan.", public=True)
    def plan(self, info: Info[Any, Any], id: strawberry.ID, size: int = 3) -> GwPlan | None: ...


gateway_schema = strawberry.Schema(query=GwQuery, config=StrawberryConfig(scalar_map=SCALAR_MAP))


# --- the tests -------------------------------------------------------------------------------


@pytest.fixture
def gateway(recording: Any) -> Any:
    transports, sent = recording(
        {
            "plans": httpx.ASGITransport(app=GraphQL(plans_subgraph)),
            "indicators": httpx.ASGITransport(app=GraphQL(indicators_subgraph)),
        }
    )
    urls = {"plans": "http://plans/graphql", "indicators": "http://indicators/graphql"}
    subgraphs = Subgraphs.from_urls(urls, transports=transports)

    async def run(query: str, variables: dict[str, Any] | None = None) -> Any:
        context = GatewayContext(
            principal=ANONYMOUS,
            authorization=None,
            settings=GatewaySettings(),
            subgraphs=subgraphs,
            loaders=EntityLoaders(subgraphs, authorization=None, variables=variables or {}),
            raw_variables=variables or {},
        )
        return await gateway_schema.execute(query, variable_values=variables, context_value=context)

    run.sent = sent  # type: ignore[attr-defined]
    return run


WHOLE_PLAN = """
query Whole($id: ID!, $size: Int!, $fy: Int!) {
  plan(id: $id, size: $size) {
    title
    measures { code ...M indicators { id t: title s: status(fiscalYear: $fy) } }
  }
}
fragment M on Measure { title }
"""


async def test_whole_plan_costs_the_same_for_10_and_200_measures(gateway: Any) -> None:
    counts = []
    for size in (10, 200):
        gateway.sent.clear()
        result = await gateway(WHOLE_PLAN, {"id": "p1", "size": size, "fy": 2024})
        assert result.errors is None, result.errors
        measures = result.data["plan"]["measures"]
        assert len(measures) == size
        assert measures[5]["indicators"][1] == {"id": "m5-k1", "t": "指標1", "s": "ON_TRACK"}
        counts.append(len(gateway.sent))
    assert counts == [2, 2]


async def test_forwards_only_the_owning_subgraphs_fields(gateway: Any) -> None:
    await gateway(WHOLE_PLAN, {"id": "p1", "size": 2, "fy": 2023})
    plans_call, indicators_call = gateway.sent
    assert "indicators" not in plans_call["query"]
    assert "_gw_key: id" in plans_call["query"]
    assert "fragment" not in plans_call["query"]  # fragments are inlined
    assert plans_call["variables"] == {"id": "p1", "size": 2}  # only what the selection uses
    assert "_entities" in indicators_call["query"]
    assert indicators_call["variables"]["fy"] == 2023
    assert len(indicators_call["variables"]["_gw_representations"]) == 2


async def test_entity_errors_stay_with_their_entity(gateway: Any) -> None:
    result = await gateway('{ plan(id: "p", size: 300) { measures { code indicators { id } } } }')
    assert result.errors and len(result.errors) == 1
    error = result.errors[0]
    assert error.path == ["plan", "measures", 299, "indicators"]
    assert error.extensions["code"] == "NOT_FOUND"
    assert error.extensions["message"] == "指標がありません"


async def test_subgraph_errors_are_mapped_without_addresses(gateway: Any) -> None:
    result = await gateway('{ plan(id: "boom") { title } }')
    (error,) = result.errors
    assert error.extensions["code"] == "FORBIDDEN"
    assert "10.0.0.7" not in str(error.formatted) and "http" not in str(error.formatted)
    assert error.extensions["message"] == "禁止です"


async def test_null_root_and_aliases(gateway: Any) -> None:
    result = await gateway(
        '{ a: plan(id: "missing") { title } b: plan(id: "x", size: 1) { t: title title } }'
    )
    assert result.errors is None
    assert result.data == {"a": None, "b": {"t": "計画 x", "title": "計画 x"}}


async def test_connection_pages_a_subgraph_list(gateway: Any) -> None:
    query = """
    query($after: String) {
      plan(id: "p", size: 7) {
        measurePage(first: 3, after: $after) {
          totalCount
          pageInfo { hasNextPage hasPreviousPage endCursor }
          edges { cursor node { code } }
          nodes { title }
        }
      }
    }"""
    first = await gateway(query, {"after": None})
    assert first.errors is None, first.errors
    page = first.data["plan"]["measurePage"]
    assert page["totalCount"] == 7
    assert [e["node"]["code"] for e in page["edges"]] == ["0", "1", "2"]
    assert page["pageInfo"]["hasNextPage"] and not page["pageInfo"]["hasPreviousPage"]
    second = await gateway(query, {"after": page["pageInfo"]["endCursor"]})
    page2 = second.data["plan"]["measurePage"]
    assert [n["title"] for n in page2["nodes"]] == ["施策3", "施策4", "施策5"]
    assert page2["pageInfo"]["hasPreviousPage"]
