"""What every HTTP app of the platform (the gateway, each subgraph) wraps itself in.

From the outside in: the OpenTelemetry server span (only when tracing is on, see kit.tracing),
the correlation id of the request (``x-correlation-id``, taken from the caller or made here, sent
back, and on every log line), request latency (kit.metrics), and compression of large answers
(brotli when the client accepts it, else gzip; from :data:`COMPRESS_MINIMUM` bytes). GraphQL
answers are UTF-8 JSON without ``\\uXXXX`` escapes (:func:`encode_json`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

import orjson
from brotli_asgi import BrotliMiddleware
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from suishin.kit import tracing
from suishin.kit.metrics import RequestMetrics

COMPRESS_MINIMUM = 1024
"""Smaller answers are sent as they are (compression would gain little and cost a round)."""

_CORRELATION = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_UNTRACED = "healthz,readyz,metrics"


def encode_json(data: object) -> str:
    """Compact JSON with characters as they are (Japanese is 3 bytes in UTF-8, 6 as ``\\uXXXX``).

    orjson writes a whole-plan answer about ten times faster than the json module. What it
    refuses, text that cannot be UTF-8 (a lone surrogate) or an integer beyond 64 bits, is
    written by the json module, with escapes."""
    try:
        return orjson.dumps(data).decode()
    except orjson.JSONEncodeError:
        return json.dumps(data, separators=(",", ":"))


class Correlation:
    """Runs each request with its correlation id (the caller's ``x-correlation-id`` when it is
    a plain token, else a new one) and returns it in the response's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        value = None
        for name, raw in scope.get("headers", ()):
            if name == b"x-correlation-id":
                candidate = raw.decode("latin-1")
                if _CORRELATION.fullmatch(candidate):
                    value = candidate
        value = value or tracing.new_correlation_id()

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[tracing.CORRELATION_HEADER] = value
            await send(message)

        with tracing.correlated(value):
            await self.app(scope, receive, sending if scope["type"] == "http" else send)


def instrument(app: Starlette, service: str, routes: Iterable[str]) -> Starlette:
    """Add the platform's middleware to ``app`` (before it starts) and return it."""
    # quality 5: smaller than gzip -9 for our JSON at less CPU (docs/operations.md)
    app.add_middleware(BrotliMiddleware, minimum_size=COMPRESS_MINIMUM, quality=5)
    app.add_middleware(RequestMetrics, service=service, routes=list(routes))
    app.add_middleware(Correlation)
    if tracing.active():
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        app.add_middleware(
            OpenTelemetryMiddleware, excluded_urls=_UNTRACED, exclude_spans=["receive", "send"]
        )
    return app


__all__ = ["COMPRESS_MINIMUM", "Correlation", "encode_json", "instrument"]
