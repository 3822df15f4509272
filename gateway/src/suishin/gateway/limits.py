"""Protection of the public endpoint: depth, token and alias limits, introspection switch, and a
time limit per HTTP request."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Callable
from typing import Any

from graphql import ASTValidationRule, NoSchemaIntrospectionCustomRule
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule

from suishin.gateway import errors
from suishin.gateway.settings import GatewaySettings

log = logging.getLogger(__name__)

# Distinct documents kept parsed and validated (per process).
DOCUMENT_CACHE_SIZE = 256


def schema_extensions(settings: GatewaySettings) -> list[Callable[[], SchemaExtension]]:
    """Validation rules applied to every document before anything is forwarded (factories:
    Strawberry builds fresh extension instances per request).

    Dashboards send the same documents again and again, so parsing and validation are cached
    per document text (bounded LRU). The limit rules are built once, so that the validation
    cache, which is keyed by the rules too, hits across requests."""
    rules: list[type[ASTValidationRule]] = [
        depth_rule(settings.max_query_depth, None),
        aliases_rule(settings.max_aliases),
    ]
    if not settings.introspection_enabled:
        rules.append(NoSchemaIntrospectionCustomRule)
    return [
        functools.partial(MaxTokensLimiter, max_token_count=settings.max_query_tokens),
        functools.partial(ParserCache, maxsize=DOCUMENT_CACHE_SIZE),
        functools.partial(AddValidationRules, rules),
        functools.partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
    ]


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
