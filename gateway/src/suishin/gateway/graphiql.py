"""GraphiQL served from the gateway's own assets (no CDN: ward networks are often offline).

``GET /graphql`` from a browser and ``GET /graphiql`` show it with a Suishin example query;
``POST /graphiql`` with a form field ``token`` (the portal's hand-off) shows it with the
Authorization header filled in. The token travels in the POST body, never in a URL, and the
page is not cached."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles

from suishin.gateway.auth import AuthError, authenticate
from suishin.gateway.settings import GatewaySettings

ASSETS = Path(__file__).parent / "static" / "graphiql"
PREFIX = "/graphiql/assets"

EXAMPLE_QUERY = """# Suishin GraphQL API — 推進 GraphQL API
# Ctrl-Enter runs the query. `me` shows who the token says you are.
query PlansOfMyWard {
  me { subject tenant roles departments posts }
  plans {
    key
    title
    state
    fiscalYearFrom
    fiscalYearTo
    levelLabels
    measureCount
  }
}
"""

PAGE = """<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Suishin GraphiQL</title>
<link rel="stylesheet" href="{prefix}/graphiql.min.css">
<style>body {{ margin: 0; }} #graphiql {{ height: 100vh; }}</style>
<script src="{prefix}/react.production.min.js"></script>
<script src="{prefix}/react-dom.production.min.js"></script>
<script src="{prefix}/graphiql.min.js"></script>
</head>
<body>
<div id="graphiql" class="graphiql-container">Loading GraphiQL…</div>
<script type="application/json" id="graphiql-config">{config}</script>
<script src="{prefix}/suishin-graphiql.js"></script>
</body>
</html>
"""


def page(endpoint: str = "/graphql", authorization: str | None = None) -> str:
    headers = json.dumps({"Authorization": authorization}, indent=2) if authorization else ""
    config = json.dumps({"endpoint": endpoint, "query": EXAMPLE_QUERY, "headers": headers})
    # JSON inside <script>: no "</script>" or "<!--" can close or confuse the element.
    config = config.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return PAGE.format(prefix=PREFIX, config=config)


def assets() -> StaticFiles:
    return StaticFiles(directory=ASSETS)


def handoff(settings: GatewaySettings) -> Callable[[Request], Awaitable[Response]]:
    """The GraphiQL page; with a valid token POSTed as a form field, headers pre-filled."""

    async def endpoint(request: Request) -> Response:
        authorization = None
        if request.method == "POST":
            body = (await request.body())[:16384].decode("utf-8", "replace")
            token = (parse_qs(body).get("token") or [""])[0].strip()
            if token:
                authorization = f"Bearer {token}"
                try:
                    authenticate(settings, authorization)
                except AuthError:
                    return HTMLResponse("invalid or expired token", status_code=401)
        return HTMLResponse(
            page(authorization=authorization),
            headers={"cache-control": "no-store", "x-frame-options": "DENY"},
        )

    return endpoint
