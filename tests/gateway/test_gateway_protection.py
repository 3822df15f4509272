"""Protection of the public endpoint: tokens, limits, introspection, time limits, no addresses."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from suishin.gateway.app import build
from suishin.gateway.settings import GatewaySettings
from suishin.kit.auth import issue_token
from suishin.kit.settings import DEV_JWT_SECRET, InsecureConfiguration

SECRET_URL = "http://10.9.8.7:4999/graphql"
# What production needs: a private signing secret (or a JWKS URL) and a private internal key.
PRODUCTION = {
    "environment": "production",
    "jwt_secret": "a-private-secret-" * 3,
    "internal_key": "a-private-internal-key-" * 2,
}


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
    async with gateway(**PRODUCTION) as client:
        response = await post(client, query)
        assert response.json()["errors"][0]["message"].startswith("GraphQL introspection")
        ide = await client.get("/graphql", headers={"accept": "text/html"})
        assert "graphiql" not in ide.text.lower()
    async with gateway(**PRODUCTION, introspection=True) as client:
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


def test_production_refuses_to_start_with_the_dev_secret_or_no_verifier() -> None:
    for refused in (
        {"environment": "production"},  # nothing set: the published dev secret
        {**PRODUCTION, "jwt_secret": DEV_JWT_SECRET},
        {**PRODUCTION, "jwt_secret": ""},  # neither a JWKS URL nor a secret
        {**PRODUCTION, "internal_key": GatewaySettings().internal_key},  # the dev internal key
    ):
        with pytest.raises(InsecureConfiguration, match="SUISHIN_ENVIRONMENT=production"):
            build(GatewaySettings(live_enabled=False, **refused))
    build(GatewaySettings(live_enabled=False, **PRODUCTION))
    build(
        GatewaySettings(
            live_enabled=False,
            **{**PRODUCTION, "jwt_secret": DEV_JWT_SECRET},
            jwt_jwks_url="https://idp.example.jp/jwks",
        )
    )
    build(GatewaySettings(live_enabled=False))  # development: the dev secret is fine


def nested(levels: int) -> str:
    inner = "title"
    for _ in range(levels):
        inner = f"children {{ parent {{ {inner} }} }}"
    return inner


# The anonymous 587-byte query that cost 48.8 MB and 12.5 s: four aliases of nested children.
COSTLY = "{ " + " ".join(f"a{i}: plans {{ nodes {{ {nested(4)} }} }}" for i in range(4)) + " }"


async def test_costly_queries_are_refused_before_any_subgraph_call() -> None:
    async with gateway() as client:  # subgraphs unreachable: a forwarded query would say so
        response = await post(client, COSTLY)
        [error] = response.json()["errors"]
        assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
        assert error["extensions"]["cost"] > error["extensions"]["limit"]
        assert "コスト" in error["extensions"]["message"]
        # Explicit sizes count: 500 measures with all their series is too much, 5 measures is not.
        big = (
            '{ measures(planId: "p", first: 500) { edges { node { '
            "indicators { series { measurements { value } } } } } } }"
        )
        assert (await post(client, big)).json()["errors"][0]["extensions"]["code"] == (
            "QUERY_TOO_COSTLY"
        )
        small = '{ measures(planId: "p", first: 5) { edges { node { code } } } }'
        small_error = (await post(client, small)).json()["errors"][0]
        assert small_error["extensions"]["code"] == "SERVICE_UNAVAILABLE"  # it was forwarded
    async with gateway(max_query_cost=10_000_000_000) as client:  # the budget is a setting
        response = await post(client, COSTLY)
        assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


async def test_oversized_and_unsafe_input_is_refused_with_typed_errors() -> None:
    mutation = "mutation($input: ReportActualInput!) { reportActual(input: $input) { duplicate } }"
    report = {"indicatorKey": "k", "period": "FY2024", "value": "1"}
    comment = {"input": {**report, "comment": "x" * 1_000_000}}
    async with gateway() as client:  # a 1,000,000-character comment: too large as variables
        response = await client.post(
            "/graphql", json={"query": mutation, "variables": comment}, headers=bearer()
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "VARIABLES_TOO_LARGE"
    async with gateway(max_body_bytes=2_000_000, max_variables_bytes=2_000_000) as client:
        response = await client.post(  # and as a string, whatever the other limits are
            "/graphql", json={"query": mutation, "variables": comment}, headers=bearer()
        )
        assert response.status_code == 400
        assert response.json()["errors"][0]["extensions"]["code"] == "INPUT_TOO_LONG"
        search = "query($s: String) { indicators(filter: {search: $s}) { totalCount } }"
        for bad in ("\x00", "\ud800"):  # NUL, a lone surrogate (JSON-escaped on the wire)
            body = json.dumps({"query": search, "variables": {"s": f"a{bad}b"}})
            response = await client.post(
                "/graphql", content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 400, response.text
            assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_CHARACTER"
        literal = await post(client, '{ indicators(filter: {search: "a\\u0000b"}) { totalCount } }')
        assert literal.json()["errors"][0]["extensions"]["code"] == "INVALID_CHARACTER"
    async with gateway() as client:
        variables = {"input": {**report, "comment": "x" * (20 * 1024 * 1024)}}
        response = await client.post(
            "/graphql", json={"query": mutation, "variables": variables}, headers=bearer()
        )
        assert response.status_code == 413
        assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
        medium = {"input": {**report, "comment": "x"}, "padding": ["y" * 1000] * 400}
        response = await client.post(
            "/graphql", json={"query": mutation, "variables": medium}, headers=bearer()
        )
        assert response.json()["errors"][0]["extensions"]["code"] == "VARIABLES_TOO_LARGE"
