"""Strawberry plumbing shared by the subgraphs: request context with the caller's principal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import strawberry
from strawberry.asgi import GraphQL
from strawberry.types import Info

from suishin.kit.auth import AuthError, Principal, principal_from_header
from suishin.kit.errors import Forbidden

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


class ServiceGraphQL(GraphQL[ServiceContext, None]):
    """A subgraph endpoint that authenticates every request from its bearer token."""

    def __init__(self, schema: strawberry.Schema, runtime: ServiceRuntime, **kwargs: Any) -> None:
        super().__init__(schema, **kwargs)
        self.runtime = runtime

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket | None
    ) -> ServiceContext:
        header = request.headers.get("authorization")
        try:
            principal = principal_from_header(self.runtime.settings, header)
        except AuthError as exc:
            raise Forbidden("トークンが無効です", f"Invalid token: {exc}") from exc
        return ServiceContext(principal=principal, runtime=self.runtime, request=request)
