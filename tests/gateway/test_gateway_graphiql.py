"""GraphiQL works on a network without internet access: every asset comes from the gateway;
the portal hands a token over by POST (never in a URL) and it lands in the headers editor."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from suishin.gateway.app import build
from suishin.gateway.graphiql import PREFIX
from suishin.gateway.graphiql import page as page_of
from suishin.gateway.settings import GatewaySettings
from suishin.kit.auth import issue_token

UNUSED = "http://127.0.0.1:9/graphql"


def gateway(**overrides: Any) -> httpx.AsyncClient:
    settings = GatewaySettings(
        live_enabled=False,
        plans_url=UNUSED,
        indicators_url=UNUSED,
        notifications_url=UNUSED,
        **overrides,
    )
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build(settings)), base_url="http://gw"
    )


def config_of(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="graphiql-config">(.*?)</script>', html)
    assert found, html
    return dict(json.loads(found.group(1)))


async def test_graphiql_loads_every_asset_from_the_gateway() -> None:
    async with gateway() as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith(PREFIX + "/") for s in sources), sources
        assert "unpkg" not in page.text and "cdn" not in page.text.lower()
        for source in sources:
            asset = await client.get(source)
            assert asset.status_code == 200 and len(asset.content) > 1000, source
        config = config_of(page.text)
        assert "plans" in config["query"] and config["headers"] == ""
        licences = [f"{PREFIX}/LICENSE.{name}" for name in ("graphiql", "react", "react-dom")]
        for licence in licences:
            assert (await client.get(licence)).status_code == 200


async def test_a_token_posted_by_the_portal_fills_the_authorization_header() -> None:
    settings = GatewaySettings()
    token = issue_token(settings, subject="cio@itabashi", tenant="itabashi", roles=["executive"])
    async with gateway() as client:
        page = await client.post("/graphiql", data={"token": token})
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"
        headers = json.loads(config_of(page.text)["headers"])
        assert headers == {"Authorization": f"Bearer {token}"}
        forged = await client.post("/graphiql", data={"token": "not-a-token"})
        assert forged.status_code == 401 and "not-a-token" not in forged.text


async def test_a_script_in_the_token_field_cannot_close_the_config_element() -> None:
    async with gateway(jwt_secret="s" * 48) as client:
        page = await client.post("/graphiql", data={"token": "</script><script>alert(1)"})
        assert page.status_code == 401 and "<script>alert" not in page.text
    html = page_of(authorization="Bearer </script><script>alert(1)</script>")
    assert "<script>alert" not in html
    assert json.loads(config_of(html)["headers"])["Authorization"].endswith("alert(1)</script>")


async def test_no_graphiql_in_production() -> None:
    production = {
        "environment": "production",
        "jwt_secret": "a-private-secret-" * 3,
        "internal_key": "a-private-internal-key-" * 2,
    }
    async with gateway(**production) as client:
        assert (await client.get("/graphiql")).status_code == 404
        assert (await client.get(f"{PREFIX}/graphiql.min.js")).status_code == 404
