"""Who is calling: a principal per request (HTTP header) or per connection (WebSocket).

Tokens are verified with kit.auth: the dev HS256 issuer by default, the identity provider's JWKS
when ``SUISHIN_JWT_JWKS_URL`` is set. The gateway refuses cross-tenant access itself, and passes
the token on so that every subgraph checks it again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from strawberry.types import Info

from suishin.gateway import errors
from suishin.gateway.context import context_of
from suishin.gateway.forwarding import TENANT_ALIAS
from suishin.kit.auth import AuthError, Principal, principal_from_header
from suishin.kit.settings import PlatformSettings


def authenticate(settings: PlatformSettings, authorization: str | None) -> Principal:
    """The caller of a request; anonymous (public) without a header. Raises AuthError."""
    return principal_from_header(settings, authorization)


def authorization_from_params(params: Mapping[str, Any] | None) -> str | None:
    """The bearer token a WebSocket client sent in ``connection_init``.

    Accepts ``{"Authorization": "Bearer …"}`` (GraphiQL's headers), ``{"authorization": …}``,
    ``{"headers": {"Authorization": …}}`` and ``{"token": "…"}``.
    """
    if not params:
        return None
    nested = params.get("headers")
    candidates = [params, nested] if isinstance(nested, Mapping) else [params]
    for source in candidates:
        for key, value in source.items():
            if key.lower() == "authorization" and isinstance(value, str):
                return value
    token = params.get("token")
    return f"Bearer {token}" if isinstance(token, str) and token else None


def require_member(info: Info[Any, Any], tenant: str | None = None) -> Principal:
    """The caller, who must be signed in to a municipality (any internal role) and, when
    ``tenant`` is given, belong to it."""
    principal = context_of(info).principal
    if principal.tenant is None:
        raise errors.unauthenticated()
    if tenant is not None and tenant != principal.tenant:
        raise errors.forbidden_tenant()
    if not principal.can_read_internal:
        raise errors.forbidden(
            "この情報は自治体の職員のみ閲覧できます", "Only municipal staff may read this"
        )
    return principal


def check_tenant(info: Info[Any, Any], tenant: str | None) -> None:
    """Refuse a signed-in caller who names another municipality (public callers may name any:
    subgraphs show them published plans only)."""
    principal = context_of(info).principal
    if tenant is not None and principal.tenant is not None and tenant != principal.tenant:
        raise errors.forbidden_tenant()


def check_rows(principal: Principal, data: Any) -> None:
    """Refuse a subgraph answer holding another municipality's rows for a signed-in caller.

    Subgraphs already scope every query to the token's tenant; this second check at the gateway
    catches a subgraph bug or a published row of another ward (public data is read without a
    token). Every forwarded selection carries ``_gw_tenant`` on types with a tenant."""
    if principal.tenant is None:
        return
    own = principal.tenant
    stack = [data]
    push = stack.append
    while stack:  # parsed JSON: exact dicts and lists, no subclasses
        item = stack.pop()
        if type(item) is dict:
            if item.get(TENANT_ALIAS, own) not in (own, None):
                raise errors.forbidden_tenant()
            for value in item.values():
                if type(value) is dict or type(value) is list:
                    push(value)
        elif type(item) is list:
            for value in item:
                if type(value) is dict or type(value) is list:
                    push(value)


def require_signed_in(info: Info[Any, Any]) -> Principal:
    principal = context_of(info).principal
    if principal.tenant is None:
        raise errors.unauthenticated()
    return principal


__all__ = [
    "AuthError",
    "authenticate",
    "authorization_from_params",
    "check_rows",
    "check_tenant",
    "require_member",
    "require_signed_in",
]
