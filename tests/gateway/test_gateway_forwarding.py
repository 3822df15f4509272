"""The forwarding rules, one by one, through the real gateway app and schema.

The subgraphs behind it are deliberately tiny stand-ins (the real services are exercised in
test_gateway_platform.py): they answer the part of the plans and indicators schemas these
queries select, so that each rule can be checked on its own: sub-selection forwarding, aliases,
variables, fragments, ``@skip``/``@include``, entity batching, error mapping, GraphQL's null
rules and the per-app cache of forwarded documents.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLError
from strawberry.asgi import GraphQL

from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import Envelope, Figures, IndicatorStatusChanged, new_event
from suishin.gateway.app import build
from suishin.gateway.context import GatewayContext
from suishin.gateway.forwarding import document_key
from suishin.gateway.loaders import EntityLoaders
from suishin.gateway.settings import GatewaySettings
from suishin.gateway.subgraphs import SubgraphClient, Subgraphs
from suishin.kit.auth import Principal, Role, issue_token

# --- two stand-in subgraphs ---------------------------------------------------------------------

TENANT = "itabashi"
MEASURES = {f"m{i}": {"id": f"m{i}", "code": str(i), "title": f"施策{i}"} for i in range(300)}


@strawberry.federation.type(keys=["id"], name="Measure")
class SgMeasure:
    id: strawberry.ID
    code: str
    title: str
    tenant: str = TENANT

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> SgMeasure:
        return SgMeasure(**MEASURES[str(id)])


@strawberry.type(name="MeasureEdge")
class SgMeasureEdge:
    cursor: str
    node: SgMeasure


@strawberry.type(name="PageInfo")
class SgPageInfo:
    has_next_page: bool
    has_previous_page: bool
    end_cursor: str | None


@strawberry.type(name="MeasureConnection")
class SgMeasureConnection:
    edges: list[SgMeasureEdge]
    page_info: SgPageInfo
    total_count: int


@strawberry.type(name="PlanNode")
class SgPlanNode:
    code: str
    measure: SgMeasure | None


@strawberry.type(name="Plan")
class SgPlan:
    id: strawberry.ID
    title: str
    tenant: str = TENANT

    @strawberry.field
    def nodes(self) -> list[SgPlanNode]:
        size = int(str(self.id).removeprefix("p"))  # plan "p<n>" has n measures
        return [
            SgPlanNode(code=str(i), measure=SgMeasure(**MEASURES[f"m{i}"])) for i in range(size)
        ]


@strawberry.type(name="Query")
class PlansQuery:
    @strawberry.field
    def plan(self, id: strawberry.ID) -> SgPlan | None:
        if id == "missing":
            return None
        if id == "boom":
            raise ValueError("FORBIDDEN: You cannot access http://10.0.0.7:4001/x / 禁止です")
        return SgPlan(id=id, title=f"計画 {id}")

    @strawberry.field
    def measures(
        self, plan_id: strawberry.ID, first: int = 50, after: str | None = None
    ) -> SgMeasureConnection:
        start = int(after) + 1 if after else 0
        size = int(str(plan_id).removeprefix("p"))
        end = min(start + first, size)
        edges = [
            SgMeasureEdge(cursor=str(i), node=SgMeasure(**MEASURES[f"m{i}"]))
            for i in range(start, end)
        ]
        return SgMeasureConnection(
            edges=edges,
            page_info=SgPageInfo(
                has_next_page=end < size,
                has_previous_page=start > 0,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=size,
        )


@strawberry.enum(name="IndicatorStatus")
class Status(enum.Enum):
    ON_TRACK = "on_track"
    OFF_TRACK = "off_track"
    WHATEVER = "whatever"  # not in the gateway's schema


@strawberry.type(name="IndicatorEvaluation")
class SgEvaluation:
    fiscal_year: int
    status: Status


@strawberry.federation.type(keys=["id"], name="Indicator")
class SgIndicator:
    id: strawberry.ID
    title: str | None  # non-null in the gateway's schema: the stand-in can break that rule
    tenant: str = TENANT

    @classmethod
    def resolve_reference(cls, id: strawberry.ID) -> SgIndicator:
        return SgIndicator(id=id, title=f"指標 {id}")

    @strawberry.field
    def status(self, fiscal_year: int | None = None) -> SgEvaluation:
        year = fiscal_year or 2024
        if year == 1999:
            return SgEvaluation(fiscal_year=year, status=Status.WHATEVER)
        return SgEvaluation(
            fiscal_year=year, status=Status.ON_TRACK if year % 2 == 0 else Status.OFF_TRACK
        )


@strawberry.federation.type(keys=["id"], name="Measure")
class SgMeasureIndicators:
    id: strawberry.ID

    @strawberry.field
    def indicators(self) -> list[SgIndicator]:
        if self.id == "m299":
            raise ValueError("NOT_FOUND: no indicators / 指標がありません")
        return [
            SgIndicator(
                id=f"{self.id}-k{j}",
                title=None if self.id == "m250" and j == 1 else f"指標{j}",
            )
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


plans_subgraph = strawberry.federation.Schema(
    query=PlansQuery, types=[SgMeasure], federation_version="2.7"
)
indicators_subgraph = strawberry.federation.Schema(
    query=IndicatorsQuery, types=[SgMeasureIndicators, SgIndicator], federation_version="2.7"
)


# --- the real gateway in front of them -----------------------------------------------------------


@pytest.fixture
def gateway(recording: Any) -> Any:
    transports, sent = recording(
        {
            "plans": httpx.ASGITransport(app=GraphQL(plans_subgraph)),
            "indicators": httpx.ASGITransport(app=GraphQL(indicators_subgraph)),
            "notifications": httpx.ASGITransport(app=GraphQL(indicators_subgraph)),
        }
    )
    app = build(GatewaySettings(live_enabled=False), transports=transports)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")

    async def run(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        body: dict[str, Any] = response.json()
        return body

    run.sent = sent  # type: ignore[attr-defined]
    run.app = app  # type: ignore[attr-defined]
    return run


WHOLE_PLAN = """
query Whole($plan: ID!, $fy: Int!) {
  plan(id: $plan) {
    title
    nodes { measure { code ...M indicators { id t: title s: status(fiscalYear: $fy) { status } } } }
  }
}
fragment M on Measure { title }
"""


def measures(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [node["measure"] for node in data["plan"]["nodes"]]


async def test_whole_plan_costs_the_same_for_10_and_200_measures(gateway: Any) -> None:
    counts = []
    for size in (10, 200):
        gateway.sent.clear()
        result = await gateway(WHOLE_PLAN, {"plan": f"p{size}", "fy": 2024})
        assert "errors" not in result, result
        found = measures(result["data"])
        assert len(found) == size
        assert found[5]["indicators"][1] == {
            "id": "m5-k1",
            "t": "指標1",
            "s": {"status": "ON_TRACK"},
        }
        assert list(found[5]) == ["code", "title", "indicators"]  # the client's order
        counts.append(len(gateway.sent))
    assert counts == [2, 2]


async def test_forwards_only_the_owning_subgraphs_fields(gateway: Any) -> None:
    await gateway(WHOLE_PLAN, {"plan": "p2", "fy": 2023})
    plans_call, indicators_call = gateway.sent
    assert plans_call["subgraph"] == "plans"
    assert "indicators" not in plans_call["query"]
    assert "_gw_key: id" in plans_call["query"]
    assert "fragment" not in plans_call["query"]  # fragments are inlined
    assert plans_call["variables"] == {"plan": "p2"}  # only what the selection uses
    assert indicators_call["subgraph"] == "indicators"
    assert "_entities" in indicators_call["query"]
    assert indicators_call["variables"]["fy"] == 2023
    assert len(indicators_call["variables"]["_gw_representations"]) == 2


async def test_entity_errors_stay_with_their_entity(gateway: Any) -> None:
    result = await gateway('{ plan(id: "p300") { nodes { measure { code indicators { id } } } } }')
    (error,) = result["errors"]
    assert error["path"] == ["plan", "nodes", 299, "measure", "indicators"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["message"] == "指標がありません"
    found = measures(result["data"])
    assert found[299] is None  # indicators is non-null: its nullable parent goes
    assert found[298] == {"code": "298", "indicators": [{"id": "m298-k0"}, {"id": "m298-k1"}]}


async def test_null_at_a_non_null_position_nulls_the_nearest_nullable_parent(
    gateway: Any,
) -> None:
    result = await gateway(
        '{ plan(id: "p251") { nodes { code measure { indicators { title } } } } }'
    )
    (error,) = result["errors"]
    assert error["path"] == ["plan", "nodes", 250, "measure", "indicators", 1, "title"]
    assert "Cannot return null for non-nullable field Indicator.title" in error["message"]
    # Indicator.title, [Indicator!]! and Measure.indicators are non-null; PlanNode.measure is not.
    node = result["data"]["plan"]["nodes"][250]
    assert node == {"code": "250", "measure": None}
    # Through the connection everything is non-null up to the root field, so data is null.
    root = await gateway(
        '{ plan(id: "p1") { title } measures(planId: "p251", first: 251) '
        "{ edges { node { indicators { title } } } } }"
    )
    assert root["data"] is None
    assert root["errors"][0]["path"][:3] == ["measures", "edges", 250]


async def test_a_value_outside_the_gateways_enum_is_a_schema_mismatch(gateway: Any) -> None:
    result = await gateway(
        '{ measures(planId: "p1", first: 1) '
        "{ edges { node { indicators { id status(fiscalYear: 1999) { status } } } } } }"
    )
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "SCHEMA_MISMATCH"
    assert error["path"] == ["measures", "edges", 0, "node", "indicators", 0, "status", "status"]


async def test_subgraph_errors_are_mapped_without_addresses(gateway: Any) -> None:
    result = await gateway('{ plan(id: "boom") { title } }')
    (error,) = result["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "10.0.0.7" not in str(error) and "http" not in str(error)
    assert error["extensions"]["message"] == "禁止です"
    assert error["path"] == ["plan"]


async def test_null_root_aliases_and_typename(gateway: Any) -> None:
    result = await gateway(
        '{ a: plan(id: "missing") { title } b: plan(id: "x") { t: title title __typename } }'
    )
    assert "errors" not in result
    assert result["data"] == {
        "a": None,
        "b": {"t": "計画 x", "title": "計画 x", "__typename": "Plan"},
    }


async def test_skip_and_include_follow_the_variables(gateway: Any) -> None:
    query = """
    query($with: Boolean!) {
      measures(planId: "p1", first: 1) {
        totalCount @skip(if: $with)
        edges { node { code indicators @include(if: $with) { id } } }
      }
    }"""
    on = await gateway(query, {"with": True})
    assert on["data"]["measures"] == {
        "edges": [{"node": {"code": "0", "indicators": [{"id": "m0-k0"}, {"id": "m0-k1"}]}}]
    }
    gateway.sent.clear()
    off = await gateway(query, {"with": False})
    assert off["data"]["measures"] == {"totalCount": 1, "edges": [{"node": {"code": "0"}}]}
    assert [call["subgraph"] for call in gateway.sent] == ["plans"]


async def test_connections_are_paged_by_the_subgraph(gateway: Any) -> None:
    query = """
    query($after: String) {
      measures(planId: "p7", first: 3, after: $after) {
        totalCount
        pageInfo { hasNextPage hasPreviousPage endCursor }
        edges { cursor node { code } }
      }
    }"""
    first = await gateway(query, {"after": None})
    page = first["data"]["measures"]
    assert page["totalCount"] == 7
    assert [e["node"]["code"] for e in page["edges"]] == ["0", "1", "2"]
    assert page["pageInfo"]["hasNextPage"] and not page["pageInfo"]["hasPreviousPage"]
    gateway.sent.clear()
    second = await gateway(query, {"after": page["pageInfo"]["endCursor"]})
    page2 = second["data"]["measures"]
    assert [e["node"]["code"] for e in page2["edges"]] == ["3", "4", "5"]
    assert page2["pageInfo"]["hasPreviousPage"]
    assert gateway.sent[0]["variables"] == {"after": "2"}


async def test_forwarded_documents_are_cached_per_app_by_document(gateway: Any) -> None:
    documents = gateway.app.state.schema.execution_context_class.documents
    variables = {"plan": "p3", "fy": 2024}
    await gateway(WHOLE_PLAN, variables)
    cached = len(documents)
    assert cached == 2  # the root field and the indicators position
    first_calls = [call["query"] for call in gateway.sent]
    gateway.sent.clear()
    await gateway(WHOLE_PLAN, {**variables, "fy": 2025})
    assert len(documents) == cached  # parsed again, found by the document's hash
    assert [call["query"] for call in gateway.sent] == first_calls
    await gateway(WHOLE_PLAN.replace("query Whole", "query Other"), variables)
    assert len(documents) == 2 * cached  # another operation name, another document
    other = build(GatewaySettings(live_enabled=False))
    assert other.state.schema.execution_context_class.documents is not documents
    assert len(other.state.schema.execution_context_class.documents) == 0


def test_document_key_is_the_hash_of_text_and_operation_name() -> None:
    from graphql import parse

    one = parse("query A { plans { id } } query B { plans { id } }")
    a, b = one.definitions
    again = parse("query A { plans { id } } query B { plans { id } }").definitions[0]
    assert document_key(a) == document_key(again)  # type: ignore[arg-type]
    assert document_key(a) != document_key(b)  # type: ignore[arg-type]
    assert document_key(parse("{ plans { id } }", no_location=True).definitions[0]) is None  # type: ignore[arg-type]


class OneEventHub:
    """A live hub that has one event to give."""

    def __init__(self, event: Envelope[Any]) -> None:
        self.event = event

    async def events(
        self, event_type: str, accepts: Any, *, until: float | None = None
    ) -> AsyncIterator[Envelope[Any]]:
        if accepts(self.event):
            yield self.event


async def test_subscription_events_load_entities_and_carry_figures_through_the_assembly(
    gateway: Any,
) -> None:
    indicator = uuid.uuid4()
    event = new_event(
        IndicatorStatusChanged(
            indicator_id=indicator,
            indicator_key="k",
            title="指標",
            period="FY2024",
            fiscal_year=2024,
            from_status=IndicatorStatus.ON_TRACK,
            to_status=IndicatorStatus.OFF_TRACK,
            figures=Figures(actual=Decimal("3"), target=Decimal("10"), unit="件"),
            rule="linear",
            reason="目標を下回っています",
            measure_ids=[uuid.uuid4()],
        ),
        tenant=TENANT,
        aggregate_id=str(indicator),
        producer="test",
    )
    schema = gateway.app.state.schema
    subgraphs: Subgraphs = gateway.app.state.subgraphs
    context = GatewayContext(
        principal=Principal("u1", TENANT, frozenset({Role.VIEWER})),
        authorization=None,
        settings=GatewaySettings(live_enabled=False),
        subgraphs=subgraphs,
        loaders=EntityLoaders(subgraphs, authorization=None, variables={"fy": 2024}),
        hub=OneEventHub(event),  # type: ignore[arg-type]
        raw_variables={"fy": 2024},
    )
    stream = await schema.subscribe(
        """subscription($fy: Int) {
          indicatorStatusChanged {
            toStatus
            figures { t: target actual unit comparator }
            indicator { id t: title status(fiscalYear: $fy) { status } }
          }
        }""",
        variable_values={"fy": 2024},
        context_value=context,
    )
    results = [result async for result in stream]
    assert len(results) == 1 and results[0].errors is None, results
    assert results[0].data == {
        "indicatorStatusChanged": {
            "toStatus": "OFF_TRACK",
            "figures": {"t": "10", "actual": "3", "unit": "件", "comparator": None},
            "indicator": {
                "id": str(indicator),
                "t": f"指標 {indicator}",
                "status": {"status": "ON_TRACK"},
            },
        }
    }
    (call,) = gateway.sent
    assert call["subgraph"] == "indicators" and "_entities" in call["query"]
    assert call["variables"]["_gw_representations"] == [
        {"__typename": "Indicator", "id": str(indicator)}
    ]


# --- identical subgraph calls in flight are sent once per caller ---------------------------------


class Gate(httpx.AsyncBaseTransport):
    """Holds every call until opened, so that concurrent requests overlap."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.opened = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.opened.wait()
        return await self.inner.handle_async_request(request)


async def until(condition: Any, timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds (the calls of other tasks have got that far)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if condition():
            return
        assert loop.time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


def bearer(subject: str) -> dict[str, str]:
    token = issue_token(GatewaySettings(), subject=subject, tenant=TENANT, roles=["viewer"])
    return {"authorization": f"Bearer {token}"}


async def test_identical_calls_in_flight_are_merged_per_caller_only(recording: Any) -> None:
    gates = {
        "plans": Gate(httpx.ASGITransport(app=GraphQL(plans_subgraph))),
        "indicators": Gate(httpx.ASGITransport(app=GraphQL(indicators_subgraph))),
        "notifications": Gate(httpx.ASGITransport(app=GraphQL(indicators_subgraph))),
    }
    transports, sent = recording(gates)
    app = build(GatewaySettings(live_enabled=False), transports=transports)
    plans: SubgraphClient = app.state.subgraphs["plans"]
    indicators: SubgraphClient = app.state.subgraphs["indicators"]
    variables = {"plan": "p12", "fy": 2024}
    body = {"query": WHOLE_PLAN, "variables": variables}
    callers = [bearer("a@itabashi")] * 3 + [bearer("b@itabashi")] * 2
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        requests = [
            asyncio.create_task(client.post("/graphql", json=body, headers=h)) for h in callers
        ]
        # every request has reached the plans subgraph call: 2 sent (one per caller), 3 merged
        await until(lambda: plans.calls + plans.merged == len(callers))
        gates["plans"].opened.set()
        await until(lambda: indicators.calls + indicators.merged == len(callers))
        gates["indicators"].opened.set()
        answers = [(await r).json() for r in requests]
    assert all("errors" not in a for a in answers), answers
    assert all(a == answers[0] for a in answers)
    assert len(measures(answers[0]["data"])) == 12
    assert (plans.calls, plans.merged) == (2, 3)
    assert (indicators.calls, indicators.merged) == (2, 3)
    by_subgraph: dict[str, list[str | None]] = {}
    for call in sent:
        by_subgraph.setdefault(call["subgraph"], []).append(call["authorization"])
    # each caller's own token went to each subgraph once; no caller was answered with another's
    assert sorted(by_subgraph["plans"]) == sorted({h["authorization"] for h in callers})
    assert sorted(by_subgraph["indicators"]) == sorted({h["authorization"] for h in callers})

    # once the calls are answered nothing is shared any more: the next request is sent again
    gates_open = len(sent)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gw"
    ) as client:
        again = await client.post(
            "/graphql", json={"query": WHOLE_PLAN, "variables": variables}, headers=callers[0]
        )
    assert again.json() == answers[0]
    assert len(sent) == gates_open + 2


class Counting(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.bodies: list[bytes] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(await request.aread())
        await self.opened.wait()
        return httpx.Response(200, json={"data": {"x": [{"n": len(self.bodies)}]}})


async def test_merging_needs_the_same_document_variables_and_token_and_is_asked_for() -> None:
    transport = Counting()
    client = SubgraphClient("plans", "http://plans/graphql", transport=transport)
    same = ("{ x { n } }", {"a": 1, "b": [1, 2]})
    calls = [
        client.execute(*same, authorization="Bearer A", dedupe=True),
        client.execute("{ x { n } }", {"b": [1, 2], "a": 1}, authorization="Bearer A", dedupe=True),
        client.execute(*same, authorization="Bearer B", dedupe=True),  # another caller
        client.execute("{ x { n } }", {"a": 2, "b": [1, 2]}, authorization="Bearer A", dedupe=True),
        client.execute("{ x { m: n } }", same[1], authorization="Bearer A", dedupe=True),
        client.execute(*same, authorization=None, dedupe=True),  # anonymous is a caller too
        client.execute(*same, authorization="Bearer A"),  # not asked for (e.g. a mutation)
    ]
    tasks = [asyncio.create_task(c) for c in calls]
    await until(lambda: client.calls + client.merged == len(calls))
    transport.opened.set()
    results = await asyncio.gather(*tasks)
    assert (client.calls, client.merged) == (6, 1)
    assert len(transport.bodies) == 6
    first, merged = results[0], results[1]
    assert first.data == merged.data
    assert first.data is not merged.data  # each caller completes its own copy
    first.data["x"][0]["n"] = "changed"
    assert merged.data["x"][0]["n"] != "changed"
    await client.aclose()


async def test_a_merged_call_survives_the_caller_that_started_it() -> None:
    transport = Counting()
    client = SubgraphClient("plans", "http://plans/graphql", transport=transport)
    leader = asyncio.create_task(client.execute("{ x { n } }", authorization="A", dedupe=True))
    await until(lambda: client.calls == 1 and len(transport.bodies) == 1)
    follower = asyncio.create_task(client.execute("{ x { n } }", authorization="A", dedupe=True))
    await until(lambda: client.merged == 1)
    leader.cancel()  # e.g. the first client disconnected
    transport.opened.set()
    result = await follower
    assert result.data == {"x": [{"n": 1}]}
    assert leader.cancelled()
    await client.aclose()


async def test_an_answer_that_is_not_a_graphql_body_is_service_unavailable() -> None:
    """A proxy's HTML page, bytes that are not UTF-8, truncated JSON, a JSON array, an empty
    body: the caller gets SERVICE_UNAVAILABLE (no address, no body echoed), the call counts as
    a failure, and a good answer afterwards still goes through."""
    bodies = [
        (502, b"<html><body>Bad Gateway at 10.9.8.7</body></html>"),
        (200, b'{"data": {"x": "\xff\xfe"}}'),
        (200, b'{"data": {"x": [1, 2'),
        (200, b'[{"data": {}}]'),
        (200, b""),
        (200, b'{"data": {"x": [{"n": "\xe6\x96\xbd\xe7\xad\x96"}]}}'),
    ]
    answers = iter(bodies)

    def answer(request: httpx.Request) -> httpx.Response:
        status, content = next(answers)
        return httpx.Response(status, content=content)

    client = SubgraphClient("plans", "http://plans/graphql", transport=httpx.MockTransport(answer))
    for _ in bodies[:-1]:
        with pytest.raises(GraphQLError) as refused:
            await client.execute("{ x { n } }")
        assert refused.value.extensions["code"] == "SERVICE_UNAVAILABLE"
        assert "10.9.8.7" not in str(refused.value.formatted)
    assert client.failures == len(bodies) - 1
    assert (await client.execute("{ x { n } }")).data == {"x": [{"n": "施策"}]}
    await client.aclose()
