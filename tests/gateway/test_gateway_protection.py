"""Protection of the public endpoint: tokens, limits, introspection, time limits, no addresses."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from suishin.gateway.app import build
from suishin.gateway.settings import GatewaySettings
from suishin.kit.auth import issue_token

SECRET_URL = "http://10.9.8.7:4999/graphql"


class SlowTransport(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={"data": None})


def gateway(**overrides: Any) -> httpx.AsyncClient:
    settings = GatewaySettings(
        live_enabled=False,
        plans_url=SECRET_URL,
        indicators_url=SECRET_URL,
        notifications_url=SECRET_URL,
        subgraph_timeout=1.0,
        **overrides,
    )
    app = build(settings)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")


def bearer(settings: GatewaySettings | None = None, **claims: Any) -> dict[str, str]:
    settings = settings or GatewaySettings()
    values: dict[str, Any] = {"subject": "u1", "tenant": "itabashi", "roles": ["viewer"]}
    values.update(claims)
    return {"authorization": f"Bearer {issue_token(settings, **values)}"}


async def post(client: httpx.AsyncClient, query: str, **kw: Any) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, **kw)


async def test_bad_tokens_get_401_and_me_reflects_good_ones() -> None:
    async with gateway() as client:
        forged = issue_token(
            GatewaySettings(jwt_secret="x" * 40), subject="m", tenant="itabashi", roles=["admin"]
        )
        for header in (f"Bearer {forged}", "Basic abc", "Bearer "):
            response = await post(client, "{ me { tenant } }", headers={"authorization": header})
            assert response.status_code == 401
            assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        me = await post(
            client,
            "{ me { subject tenant roles departments } }",
            headers=bearer(departments=["IT推進課"]),
        )
        assert me.json()["data"]["me"] == {
            "subject": "u1",
            "tenant": "itabashi",
            "roles": ["VIEWER"],
            "departments": ["IT推進課"],
        }
        anonymous = await post(client, "{ me { subject tenant roles } }")
        assert anonymous.json()["data"]["me"] == {
            "subject": "anonymous",
            "tenant": None,
            "roles": ["PUBLIC"],
        }


async def test_depth_token_and_alias_limits() -> None:
    async with gateway(max_query_depth=4, max_aliases=3, max_query_tokens=200) as client:
        deep = "{ plans { nodes { children { children { children { title } } } } } }"
        response = await post(client, deep, headers=bearer())
        assert "exceeds maximum operation depth" in response.text
        aliases = "{ " + " ".join(f"a{i}: me {{ subject }}" for i in range(5)) + " }"
        assert "aliases" in (await post(client, aliases, headers=bearer())).text.lower()
        tokens = "{ me { " + " ".join(["subject"] * 300) + " } }"
        assert "token" in (await post(client, tokens, headers=bearer())).text.lower()
        fine = await post(client, "{ a: me { subject } b: me { tenant } }", headers=bearer())
        assert fine.json()["data"]["a"] == {"subject": "u1"}


async def test_introspection_is_off_in_production() -> None:
    query = "{ __schema { queryType { name } } }"
    async with gateway(environment="production") as client:
        response = await post(client, query)
        assert response.json()["errors"][0]["message"].startswith("GraphQL introspection")
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in ide.text.lower()
    async with gateway(environment="production", introspection=True) as client:
        assert (await post(client, query)).json()["data"]["__schema"]["queryType"][
            "name"
        ] == "Query"
    async with gateway() as client:  # development: GraphiQL at the gateway URL
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert ide.status_code == 200 and "graphiql" in ide.text.lower()


async def test_subgraph_addresses_never_reach_clients() -> None:
    async with gateway() as client:
        response = await post(client, "{ plans { id title } }", headers=bearer())
        body = response.text
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert "10.9.8.7" not in body and "4999" not in body


async def test_slow_subgraphs_time_out() -> None:
    slow = SlowTransport()
    settings = GatewaySettings(live_enabled=False, subgraph_timeout=0.3, request_timeout=10)
    app = build(settings, transports={"plans": slow, "indicators": slow, "notifications": slow})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        response = await post(c, "{ plans { id } }", headers=bearer())
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_TIMEOUT"
    settings = GatewaySettings(live_enabled=False, subgraph_timeout=5, request_timeout=0.3)
    app = build(settings, transports={"plans": slow, "indicators": slow, "notifications": slow})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c:
        response = await post(c, "{ plans { id } }", headers=bearer())
        assert response.status_code == 504
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TIMEOUT"


@pytest.mark.parametrize(
    "mutation",
    [
        "markAllRead { unreadCount }",
        'reportActual(input: {indicatorKey: "k", period: "FY2024"}) { duplicate }',
    ],
)
async def test_mutations_need_a_token(mutation: str) -> None:
    async with gateway() as client:
        response = await post(client, f"mutation {{ {mutation} }}")
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_naming_another_tenant_is_refused_before_any_subgraph_call() -> None:
    async with gateway() as client:
        response = await post(client, '{ plans(tenant: "bunkyo") { id } }', headers=bearer())
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
