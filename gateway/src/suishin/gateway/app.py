"""The gateway ASGI app: GraphQL (HTTP and graphql-transport-ws), GraphiQL, health, metrics,
behind the platform's HTTP middleware (kit.http: tracing, correlation id, latency, compression).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any

import httpx
import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from suishin.gateway import errors, graphiql
from suishin.gateway.auth import AuthError, authenticate, authorization_from_params
from suishin.gateway.context import GatewayContext
from suishin.gateway.ingest import IngestForwarder
from suishin.gateway.limits import RequestGuard, RequestTimeout, schema_extensions
from suishin.gateway.live import LiveHub
from suishin.gateway.loaders import EntityLoaders
from suishin.gateway.schema import build_schema
from suishin.gateway.settings import GatewaySettings
from suishin.gateway.subgraphs import Subgraphs
from suishin.kit import http, tracing
from suishin.kit import metrics as m
from suishin.kit.auth import ANONYMOUS
from suishin.kit.signing import INTERNAL_CALLER_HEADER, internal_caller_token

log = logging.getLogger(__name__)


class GatewayGraphQL(GraphQL[GatewayContext, None]):
    """Strawberry's ASGI view with the gateway's context and WebSocket authentication."""

    def __init__(
        self,
        schema: strawberry.Schema,
        settings: GatewaySettings,
        subgraphs: Subgraphs,
        hub: LiveHub | None,
    ) -> None:
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        )
        self.settings = settings
        self.subgraphs = subgraphs
        self.hub = hub

    def encode_json(self, data: object) -> str:
        return http.encode_json(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(graphiql.page(), headers={"cache-control": "no-store"})

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> GatewayContext:
        authorization = request.headers.get("authorization")
        if isinstance(request, WebSocket):
            variables: dict[str, Any] = {}
            try:
                principal = authenticate(self.settings, authorization)
            except AuthError:
                principal, authorization = ANONYMOUS, None  # connection_init may still sign in
        else:
            principal = request.scope["state"]["principal"]
            variables = await _raw_variables(request)
        return GatewayContext(
            principal=principal,
            authorization=authorization,
            settings=self.settings,
            subgraphs=self.subgraphs,
            loaders=EntityLoaders(self.subgraphs, authorization=authorization, variables=variables),
            hub=self.hub,
            raw_variables=variables,
            request=request,
        )

    async def on_ws_connect(self, context: GatewayContext) -> dict[str, object] | None:
        authorization = authorization_from_params(context.connection_params)
        if authorization is None:
            return None
        try:
            context.principal = authenticate(self.settings, authorization)
        except AuthError as exc:
            log.info("websocket token refused", extra={"error": str(exc)})
            raise ConnectionRejectionError({"code": "UNAUTHENTICATED"}) from exc
        context.authorization = authorization
        context.loaders = EntityLoaders(self.subgraphs, authorization=authorization, variables={})
        return None


class AuthGate:
    """Verifies the bearer token of HTTP requests before GraphQL runs: a bad token is a 401
    with a GraphQL error body (no token at all means a public, anonymous caller)."""

    def __init__(self, app: ASGIApp, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            try:
                principal = authenticate(self.settings, request.headers.get("authorization"))
            except AuthError as exc:
                error = errors.unauthenticated(str(exc))
                response = JSONResponse(
                    {"data": None, "errors": [error.formatted]},
                    status_code=401,
                    headers={"www-authenticate": 'Bearer realm="suishin"'},
                )
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


class GatewayFigures:
    """The gateway's figures on /metrics (see kit.metrics): subgraph calls and live pushes."""

    def __init__(self, subgraphs: Subgraphs, hub: LiveHub | None) -> None:
        self.subgraphs = subgraphs
        self.hub = hub

    async def refresh_metrics(self) -> None:
        return None

    def metric_families(self) -> Iterator[m.Metric]:
        for client in self.subgraphs:
            label = {"subgraph": client.name}
            yield m.counter(
                "suishin_gateway_subgraph_calls", "Calls to a subgraph", label, client.calls
            )
            yield m.counter(
                "suishin_gateway_subgraph_failures",
                "Calls to a subgraph that failed (timeout, unreachable, no GraphQL body)",
                label,
                client.failures,
            )
        if self.hub is not None:
            yield m.counter(
                "suishin_gateway_live_events_received",
                "Events read by the live hub",
                {},
                self.hub.received,
            )
            yield m.counter(
                "suishin_gateway_live_events_delivered",
                "Events offered to live subscribers",
                {},
                self.hub.delivered,
            )
            yield m.gauge(
                "suishin_gateway_live_subscribers",
                "Live subscriptions open on this replica",
                {},
                len(self.hub.subscribers),
            )


async def _raw_variables(request: Request) -> dict[str, Any]:
    """The variables exactly as the client sent them (forwarded unchanged to subgraphs)."""
    raw: Any = None
    if request.method == "GET":
        text = request.query_params.get("variables")
        with contextlib.suppress(ValueError):
            raw = json.loads(text) if text else None
    else:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            body = await request.json()
            raw = body.get("variables") if isinstance(body, dict) else None
    return raw if isinstance(raw, dict) else {}


def build(
    settings: GatewaySettings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Starlette:
    """The gateway app. ``transports`` replaces the network per subgraph (tests, benchmarks)."""
    settings = settings or GatewaySettings()
    settings.check_production()
    tracing.configure_tracing("gateway")
    subgraphs = Subgraphs.from_urls(
        settings.subgraph_urls(),
        timeout=settings.subgraph_timeout,
        max_connections=settings.subgraph_max_connections,
        transports=transports,
        headers={INTERNAL_CALLER_HEADER: internal_caller_token(settings.internal_key)},
    )
    hub = LiveHub(settings) if settings.live_enabled else None
    ingest = IngestForwarder(settings, (transports or {}).get("indicators"))
    schema = build_schema(extensions=schema_extensions(settings))
    view = GatewayGraphQL(schema, settings, subgraphs, hub)
    graphql_app = RequestTimeout(
        RequestGuard(AuthGate(view, settings), settings), settings.request_timeout
    )

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "gateway"})

    async def readyz(_: Request) -> Response:
        checks: dict[str, Any] = {}
        for client in subgraphs:
            try:
                result = await client.execute("{ __typename }")
                checks[client.name] = result.data is not None
            except Exception:
                checks[client.name] = False
        if hub is not None:
            checks["live"] = hub.ready.is_set()
        ok = all(v is True for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "degraded", "checks": checks},
            status_code=200 if ok else 503,
        )

    figures = GatewayFigures(subgraphs, hub)

    async def metrics(request: Request) -> Response:
        body, content_type = await m.exposition(request.headers.get("accept"), figures)
        return Response(body, media_type=content_type)

    async def root(_: Request) -> Response:
        return RedirectResponse("/graphql")

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if hub is not None:
            await hub.start()
        try:
            yield
        finally:
            if hub is not None:
                await hub.stop()
            await subgraphs.aclose()
            await ingest.aclose()

    routes: list[BaseRoute] = [
        Route("/", root),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", view),
        ingest.route(),
    ]
    if settings.graphiql_enabled:  # GraphiQL from local assets (see graphiql.py)
        routes += [
            Route("/graphiql", graphiql.handoff(settings), methods=["GET", "POST"]),
            Mount(graphiql.PREFIX, graphiql.assets()),
        ]
    app = http.instrument(
        Starlette(routes=routes, lifespan=lifespan),
        "gateway",
        [str(getattr(r, "path", "")) for r in routes],
    )
    app.state.subgraphs = subgraphs
    app.state.hub = hub
    app.state.schema = schema
    app.state.settings = settings
    return app
