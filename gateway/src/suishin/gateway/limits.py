"""Protection of the public endpoint: the platform's query limits (kit.limits: depth, tokens,
aliases, cost, strings, introspection switch, body and variables size) and a time limit per HTTP
request."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from suishin.gateway import errors
from suishin.gateway.settings import GatewaySettings
from suishin.kit.limits import DOCUMENT_CACHE_SIZE, RequestGuard, graphql_limits

log = logging.getLogger(__name__)


def schema_extensions(settings: GatewaySettings) -> list[Callable[[], SchemaExtension]]:
    """Validation rules applied to every document before anything is forwarded (the same
    implementation the subgraphs use)."""
    return graphql_limits(settings)


class RequestTimeout:
    """Cancels an HTTP request that takes longer than ``seconds`` and answers 504 with a
    GraphQL error body (WebSocket connections are long-lived and not limited)."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, tracking_send)
        except TimeoutError:
            log.warning("request timed out", extra={"path": scope.get("path")})
            if started:
                return
            body: dict[str, Any] = {"data": None, "errors": [errors.request_timeout(self.seconds)]}
            payload = json.dumps(body, ensure_ascii=False).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 504,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(payload)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})


__all__ = ["DOCUMENT_CACHE_SIZE", "RequestGuard", "RequestTimeout", "schema_extensions"]
