"""Subgraphs apply the platform's limits themselves (kit.limits via ServiceGraphQL): the same
depth, alias, token and cost limits as the gateway, typed 401s for bad tokens, no introspection
and no caller but the gateway in production, typed errors for database and codec failures.

These run the plans subgraph's real ASGI app without starting it: every request here is refused
before a resolver would touch the database."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
import strawberry
from strawberry.types import Info

from suishin.kit.auth import issue_token
from suishin.kit.graphql import ServiceGraphQL
from suishin.kit.settings import DEV_JWT_SECRET, InsecureConfiguration
from suishin.kit.signing import INTERNAL_CALLER_HEADER, internal_caller_token
from suishin.plans.app import build
from suishin.plans.settings import PlansSettings

PRODUCTION = {
    "environment": "production",
    "jwt_secret": "a-private-secret-" * 3,
    "internal_key": "a-private-internal-key-" * 2,
}


def subgraph(**overrides: Any) -> tuple[httpx.AsyncClient, PlansSettings]:
    settings = PlansSettings(**overrides)
    _, app = build(settings)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://plans")
    return client, settings


def from_gateway(settings: PlansSettings) -> dict[str, str]:
    return {INTERNAL_CALLER_HEADER: internal_caller_token(settings.internal_key)}


async def post(client: httpx.AsyncClient, query: str, **kw: Any) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, **kw)


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_a_bad_token_is_a_typed_401_not_a_stack_trace() -> None:
    client, _ = subgraph()
    async with client:
        forged = issue_token(
            PlansSettings(jwt_secret="x" * 40), subject="m", tenant="itabashi", roles=["admin"]
        )
        for header in (f"Bearer {forged}", "Basic abc", "Bearer not.a.jwt"):
            response = await post(client, "{ __typename }", headers={"authorization": header})
            assert response.status_code == 401
            assert code(response) == "UNAUTHENTICATED"
            assert "Traceback" not in response.text


async def test_subgraphs_enforce_the_gateways_limits() -> None:
    client, _ = subgraph(max_query_depth=3, max_aliases=2, max_query_tokens=100)
    async with client:
        deep = '{ plan(id: "x") { nodes { children { children { children { title } } } } } }'
        assert "exceeds maximum operation depth" in (await post(client, deep)).text
        aliases = "{ a: __typename b: __typename c: __typename }"
        assert code(await post(client, aliases)) == "TOO_MANY_ALIASES"
        gateway_aliases = "{ _gw_a: __typename _gw_b: __typename _gw_c: __typename }"
        assert (await post(client, gateway_aliases)).json()["data"]["_gw_a"] == "Query"
        tokens = "{ " + " ".join(["__typename"] * 300) + " }"
        assert "token" in (await post(client, tokens)).text.lower()
    client, _ = subgraph()
    async with client:
        inner = "title"
        for _ in range(4):
            inner = f"children {{ parent {{ {inner} }} }}"
        costly = "{ " + " ".join(f'a{i}: plan(id: "x") {{ nodes {{ {inner} }} }}' for i in range(4))
        response = await post(client, costly + " }")
        assert code(response) == "QUERY_TOO_COSTLY"
        unsafe = await client.post(
            "/graphql",
            content=b'{"query": "query($s: String) { __typename }", "variables": {"s": "\\u0000"}}',
            headers={"content-type": "application/json"},
        )
        assert unsafe.status_code == 400 and code(unsafe) == "INVALID_CHARACTER"
        large = await client.post("/graphql", content=b"x" * (2 * 1024 * 1024))
        assert large.status_code == 413 and code(large) == "REQUEST_TOO_LARGE"


async def test_in_production_only_the_gateway_may_call_and_introspection_is_off() -> None:
    client, settings = subgraph(**PRODUCTION)
    async with client:
        stranger = await post(client, "{ __typename }")
        assert stranger.status_code == 403 and code(stranger) == "FORBIDDEN"
        wrong = await post(client, "{ __typename }", headers={INTERNAL_CALLER_HEADER: "guess"})
        assert wrong.status_code == 403
        gateway = await post(client, "{ __typename }", headers=from_gateway(settings))
        assert gateway.json()["data"] == {"__typename": "Query"}
        introspection = await post(
            client, "{ __schema { queryType { name } } }", headers=from_gateway(settings)
        )
        assert introspection.json()["errors"][0]["message"].startswith("GraphQL introspection")
    client, settings = subgraph()  # development: anyone, introspection on
    async with client:
        response = await post(client, "{ __schema { queryType { name } } }")
        assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"


class _Runtime:
    def __init__(self) -> None:
        self.settings = PlansSettings()


@strawberry.type
class _Query:
    @strawberry.field
    def encoded(self, info: Info[Any, Any]) -> str:
        return "\ud800".encode().decode()

    @strawberry.field
    def stored(self, info: Info[Any, Any]) -> str:
        raise asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8")

    @strawberry.field
    def down(self, info: Info[Any, Any]) -> str:
        raise asyncpg.UndefinedTableError('relation "secret_table" does not exist')


async def test_database_and_codec_errors_become_typed_errors() -> None:
    app = ServiceGraphQL(strawberry.Schema(_Query), _Runtime())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://s") as c:
        for field, expected in (
            ("encoded", "INVALID_INPUT"),
            ("stored", "INVALID_INPUT"),
            ("down", "DATABASE_ERROR"),
        ):
            response = await post(c, f"{{ {field} }}")
            [error] = response.json()["errors"]
            assert error["extensions"]["code"] == expected, error
            assert error["extensions"]["message"]  # Japanese
            assert "UTF8" not in response.text and "secret_table" not in response.text


async def test_a_service_refuses_to_start_in_production_with_the_dev_secret() -> None:
    for refused in (
        {"environment": "production"},
        {**PRODUCTION, "jwt_secret": DEV_JWT_SECRET},
        {**PRODUCTION, "internal_key": PlansSettings().internal_key},
    ):
        runtime, _ = build(PlansSettings(**refused))
        with pytest.raises(InsecureConfiguration, match="SUISHIN_ENVIRONMENT=production"):
            await runtime.start()  # before it touches the database or the broker
