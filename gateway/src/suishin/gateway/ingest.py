"""``POST /ingest/indicator-reports`` on the gateway: forwarded as is to the indicators service.

The durable batch ingest (answered after the PostgreSQL commit, a result per item; see
docs/reliability.md) lives in the indicators service, which authenticates the caller's bearer
token itself. The gateway only gives producers the platform's one public address for it: it
bounds the body, passes ``Authorization`` and the body through and returns the answer unchanged.
"""

from __future__ import annotations

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from suishin.gateway.settings import GatewaySettings

PATH = "/ingest/indicator-reports"
MAX_BODY_BYTES = 2 * 1024 * 1024  # the indicators service's own bound


class IngestForwarder:
    def __init__(
        self, settings: GatewaySettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        base = settings.indicators_url.removesuffix("/").removesuffix("/graphql")
        self.url = base + PATH
        self._client = httpx.AsyncClient(transport=transport, timeout=60.0)

    def route(self) -> Route:
        return Route(PATH, self.forward, methods=["POST"])

    async def forward(self, request: Request) -> Response:
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return _error(
                    413,
                    "TOO_LARGE",
                    f"一度に送れるのは {MAX_BODY_BYTES} バイトまでです",
                    f"the body may hold at most {MAX_BODY_BYTES} bytes",
                )
        headers = {"content-type": request.headers.get("content-type", "application/json")}
        if authorization := request.headers.get("authorization"):
            headers["authorization"] = authorization
        try:
            answer = await self._client.post(self.url, content=bytes(body), headers=headers)
        except httpx.HTTPError:
            return _error(
                502,
                "INDICATORS_UNAVAILABLE",
                "指標サービスに接続できません。しばらくしてから送り直してください",
                "the indicators service is unreachable; send the batch again later",
            )
        return Response(
            answer.content,
            status_code=answer.status_code,
            media_type=answer.headers.get("content-type"),
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def _error(status: int, code: str, message_ja: str, message_en: str) -> Response:
    return JSONResponse(
        {"error": {"code": code, "message_ja": message_ja, "message_en": message_en}},
        status_code=status,
    )
