"""Strawberry plumbing shared by the subgraphs: request context with the caller's principal, the
platform's query limits (kit.limits), typed errors for bad tokens, non-gateway callers in
production, and database or codec failures."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
import strawberry
from graphql import GraphQLError
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.types import Info

from suishin.kit import http
from suishin.kit.auth import ANONYMOUS, AuthError, Principal, principal_from_header
from suishin.kit.errors import Forbidden
from suishin.kit.limits import RequestGuard, graphql_limits, limit_error
from suishin.kit.signing import INTERNAL_CALLER_HEADER, is_internal_caller

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.websockets import WebSocket

    from suishin.kit.service import ServiceRuntime


@dataclass
class ServiceContext:
    """What every resolver of a subgraph gets as ``info.context``."""

    principal: Principal
    runtime: ServiceRuntime
    request: Any = None
    loaders: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> str | None:
        return self.principal.tenant


def context_of(info: Info[Any, Any]) -> ServiceContext:
    ctx = info.context
    assert isinstance(ctx, ServiceContext)
    return ctx


def require_tenant(info: Info[Any, Any], tenant: str | None = None) -> Principal:
    """The caller, who must belong to ``tenant`` (when given) and hold internal read rights."""
    principal = context_of(info).principal
    if principal.tenant is None:
        raise Forbidden("認証が必要です", "Authentication required")
    if tenant is not None and tenant != principal.tenant:
        raise Forbidden(
            "他の自治体のデータにはアクセスできません",
            "You cannot access another municipality's data",
        )
    return principal


log = logging.getLogger(__name__)


class StorageErrors(SchemaExtension):
    """Database and codec failures caused by input (bad characters, out-of-range values) become
    typed errors instead of leaking the driver's message."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [_typed(error) for error in result.errors]


def _typed(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, (UnicodeError, asyncpg.DataError)):
        log.warning("input refused by a codec or the database", extra={"error": repr(original)})
        typed = limit_error(
            "INVALID_INPUT",
            "入力値を処理できません（使用できない文字または範囲外の値が含まれています）",
            "The input cannot be processed (a character or value is not allowed)",
        )
    elif isinstance(original, (asyncpg.PostgresError, asyncpg.InterfaceError)):
        log.error("database error", extra={"error": repr(original)})
        typed = limit_error(
            "DATABASE_ERROR",
            "データベースでエラーが発生しました。しばらくしてから再度お試しください",
            "A database error occurred; try again shortly",
        )
    else:
        return error
    return GraphQLError(
        typed.message, nodes=error.nodes, path=error.path, extensions=typed.extensions
    )


def unauthenticated(detail: str) -> GraphQLError:
    return limit_error(
        "UNAUTHENTICATED",
        "認証が必要です（有効なトークンを Authorization ヘッダーに指定してください）",
        f"Authentication required: send a valid 'Authorization: Bearer <token>' header ({detail})",
    )


class ServiceGraphQL(GraphQL[ServiceContext, None]):
    """A subgraph endpoint that authenticates every request from its bearer token.

    It applies the same limits as the gateway (kit.limits), answers a bad token with a typed 401
    and, in production, answers only the gateway (``x-suishin-internal``, see kit.signing)."""

    def __init__(self, schema: strawberry.Schema, runtime: ServiceRuntime, **kwargs: Any) -> None:
        settings = runtime.settings
        # The schema object is the service module's: keep its own extensions, add the limits.
        base = getattr(schema, "_suishin_base_extensions", None)
        if base is None:
            base = tuple(schema.extensions)
            schema._suishin_base_extensions = base  # type: ignore[attr-defined]
        schema.extensions = (*base, *graphql_limits(settings, subgraph=True), StorageErrors)
        kwargs.setdefault("graphql_ide", None if settings.is_production else "graphiql")
        super().__init__(schema, **kwargs)
        self.runtime = runtime
        self._guarded = RequestGuard(self._gate, settings)

    def encode_json(self, data: object) -> str:
        return http.encode_json(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._guarded(scope, receive, send)
            return
        if self.runtime.settings.is_production and not _from_gateway(scope, self.runtime):
            await send({"type": "websocket.close", "code": 4403})
            return
        await super().__call__(scope, receive, send)

    async def _gate(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = StarletteRequest(scope)
        settings = self.runtime.settings
        if settings.is_production and not _from_gateway(scope, self.runtime):
            error = limit_error(
                "FORBIDDEN",
                "このサービスはゲートウェイからの呼び出しのみ受け付けます",
                "This service answers the gateway only",
            )
            await _refuse(scope, receive, send, error, 403)
            return
        try:
            principal = principal_from_header(settings, request.headers.get("authorization"))
        except AuthError as exc:
            await _refuse(scope, receive, send, unauthenticated(str(exc)), 401)
            return
        scope.setdefault("state", {})["principal"] = principal
        await super().__call__(scope, receive, send)

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> ServiceContext:
        principal = request.scope.get("state", {}).get("principal")
        if principal is None:  # WebSocket: the token of the upgrade request
            try:
                principal = principal_from_header(
                    self.runtime.settings, request.headers.get("authorization")
                )
            except AuthError:
                principal = ANONYMOUS
        return ServiceContext(principal=principal, runtime=self.runtime, request=request)


def _from_gateway(scope: Scope, runtime: ServiceRuntime) -> bool:
    value = None
    for name, raw in scope.get("headers", ()):
        if name.decode("latin-1").lower() == INTERNAL_CALLER_HEADER:
            value = raw.decode("latin-1")
    return is_internal_caller(runtime.settings.internal_key, value)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, error: GraphQLError, status: int
) -> None:
    response = JSONResponse(
        {"data": None, "errors": [error.formatted]},
        status_code=status,
        headers={"www-authenticate": 'Bearer realm="suishin"'} if status == 401 else None,
    )
    await response(scope, receive, send)
