"""The portal's only way to the platform: the public GraphQL gateway over HTTP and
graphql-transport-ws. Business errors come back typed (code, ja, en, field)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import websockets

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserError:
    code: str
    message: str
    message_en: str
    field: str | None = None

    @classmethod
    def of(cls, raw: dict[str, Any]) -> UserError:
        return cls(
            code=str(raw.get("code", "")),
            message=str(raw.get("message", "")),
            message_en=str(raw.get("messageEn") or raw.get("message", "")),
            field=raw.get("field"),
        )

    def text(self, lang: str) -> str:
        return self.message_en if lang == "en" else self.message

    def field_name(self) -> str:
        """The last part of the input path (``input.value`` → ``value``)."""
        return (self.field or "").rsplit(".", 1)[-1]


class GatewayError(RuntimeError):
    """The gateway refused the request or failed (GraphQL ``errors``, HTTP status)."""

    def __init__(self, message: str, *, code: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class Gateway:
    def __init__(self, url: str, ws_url: str, *, transport: httpx.AsyncBaseTransport | None = None):
        self.url = url
        self.ws_url = ws_url
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(20.0, connect=5.0),
            transport=transport,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def query(
        self, document: str, token: str | None = None, **variables: Any
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        try:
            response = await self.client.post(
                self.url, json={"query": document, "variables": variables}, headers=headers
            )
        except httpx.HTTPError as exc:
            raise GatewayError(f"gateway unreachable: {type(exc).__name__}", status=502) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise GatewayError(f"gateway answered {response.status_code}", status=502) from exc
        errors = body.get("errors") or []
        if errors and not body.get("data"):
            first = errors[0]
            code = str((first.get("extensions") or {}).get("code", ""))
            raise GatewayError(
                str(first.get("message", "")), code=code, status=response.status_code
            )
        if errors:
            log.warning(
                "partial gateway answer", extra={"errors": [e.get("message") for e in errors]}
            )
        return dict(body.get("data") or {})

    async def subscribe(
        self, document: str, token: str, variables: dict[str, Any] | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Events of a subscription (graphql-transport-ws); the token goes in connection_init."""
        async with websockets.connect(
            self.ws_url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")]
        ) as ws:
            await ws.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
                )
            )
            ack = json.loads(await ws.recv())
            if ack.get("type") != "connection_ack":
                raise GatewayError("subscription refused", code="UNAUTHENTICATED")
            await ws.send(
                json.dumps(
                    {
                        "id": "1",
                        "type": "subscribe",
                        "payload": {"query": document, "variables": variables or {}},
                    }
                )
            )
            async for raw in ws:
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                elif kind == "next":
                    yield dict(message["payload"].get("data") or {})
                elif kind in ("error", "complete"):
                    return
