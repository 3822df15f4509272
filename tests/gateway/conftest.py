"""Shared helpers of the gateway tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest


class RecordingTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and records every GraphQL request sent through it (subgraph calls)."""

    def __init__(self, name: str, inner: httpx.AsyncBaseTransport, sent: list[dict[str, Any]]):
        self.name = name
        self.inner = inner
        self.sent = sent

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(await request.aread() or b"{}")
        if not isinstance(body, dict):  # not GraphQL (e.g. the forwarded ingest endpoint)
            body = {}
        self.sent.append(
            {
                "subgraph": self.name,
                "query": body.get("query", ""),
                "variables": body.get("variables") or {},
                "authorization": request.headers.get("authorization"),
            }
        )
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture(scope="session")
def recording() -> Callable[..., tuple[dict[str, httpx.AsyncBaseTransport], list[dict[str, Any]]]]:
    """``recording({"plans": transport, ...})`` → (recording transports, list of calls)."""

    def wrap(
        transports: dict[str, httpx.AsyncBaseTransport],
    ) -> tuple[dict[str, httpx.AsyncBaseTransport], list[dict[str, Any]]]:
        sent: list[dict[str, Any]] = []
        wrapped: dict[str, httpx.AsyncBaseTransport] = {
            name: RecordingTransport(name, t, sent) for name, t in transports.items()
        }
        return wrapped, sent

    return wrap
