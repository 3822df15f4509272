"""Who calls and what for: the caller's principal and tenant, the admin check, ids, and the
service the resolvers read through."""

from __future__ import annotations

from typing import Any

from strawberry.types import Info

from suishin.contracts.enums import Role
from suishin.kit.auth import Principal
from suishin.kit.errors import Forbidden
from suishin.kit.graphql import context_of, require_tenant
from suishin.notifications.domain.rules import parse_id
from suishin.notifications.runtime import NotificationsRuntime, runtime_of

__all__ = ["admin", "me", "parse_id", "service"]


def service(info: Info[Any, Any]) -> NotificationsRuntime:
    """The notifications runtime serving the request (its pool, its clock)."""
    return runtime_of(context_of(info).runtime)


def me(info: Info[Any, Any]) -> tuple[Principal, str]:
    principal = require_tenant(info)
    assert principal.tenant is not None
    return principal, principal.tenant


def admin(info: Info[Any, Any]) -> tuple[Principal, str]:
    principal, tenant = me(info)
    if not principal.has(Role.ADMIN):
        raise Forbidden(
            "事務局（管理者）の権限が必要です", "This needs the secretariat (admin) role"
        )
    return principal, tenant
