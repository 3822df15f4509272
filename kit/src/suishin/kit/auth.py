"""Bearer tokens: who is calling, for which municipality, with which roles.

The embedded default signs HS256 tokens with a dev secret (``suishin token``); production
verifies RS256/ES256 tokens against the identity provider's JWKS. Services re-check every token
the gateway forwards, so tenancy does not rest on the gateway alone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from suishin.contracts.enums import Role
from suishin.kit.settings import PlatformSettings


class AuthError(Exception):
    """The token is missing, malformed, expired or not trusted."""


@dataclass(frozen=True)
class Principal:
    subject: str
    tenant: str | None
    roles: frozenset[Role] = field(default_factory=frozenset)
    departments: frozenset[str] = field(default_factory=frozenset)
    posts: frozenset[str] = field(default_factory=frozenset)
    name: str | None = None
    expires_at: float | None = None  # the token's ``exp`` (Unix time); None: no token

    @property
    def is_public(self) -> bool:
        return not self.roles or self.roles == {Role.PUBLIC}

    def has(self, *roles: Role) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def can_read_internal(self) -> bool:
        return self.has(Role.VIEWER, Role.REPORTER, Role.ADMIN, Role.EXECUTIVE)

    @property
    def is_admin(self) -> bool:
        return self.has(Role.ADMIN)


ANONYMOUS = Principal(subject="anonymous", tenant=None, roles=frozenset({Role.PUBLIC}))


def issue_token(
    settings: PlatformSettings,
    *,
    subject: str,
    tenant: str,
    roles: list[str] | tuple[str, ...],
    departments: list[str] | tuple[str, ...] = (),
    posts: list[str] | tuple[str, ...] = (),
    name: str | None = None,
    ttl_seconds: int = 12 * 3600,
) -> str:
    """A dev token signed with the shared secret (embedded default and tests only)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "tenant": tenant,
        "roles": [Role(r).value for r in roles],
        "departments": list(departments),
        "posts": list(posts),
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    if name:
        claims["name"] = name
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


_jwks_clients: dict[str, jwt.PyJWKClient] = {}


def verify_token(settings: PlatformSettings, token: str) -> Principal:
    try:
        if settings.jwt_jwks_url:
            client = _jwks_clients.setdefault(
                settings.jwt_jwks_url, jwt.PyJWKClient(settings.jwt_jwks_url)
            )
            key: Any = client.get_signing_key_from_jwt(token).key
            algorithms = ["RS256", "ES256"]
        else:
            key, algorithms = settings.jwt_secret, ["HS256"]
        claims = jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["sub", "exp", "tenant"]},
        )
        roles = frozenset(Role(r) for r in claims.get("roles", []))
    except (jwt.PyJWTError, ValueError) as exc:
        raise AuthError(str(exc)) from exc
    return Principal(
        subject=str(claims["sub"]),
        tenant=str(claims["tenant"]),
        roles=roles,
        departments=frozenset(claims.get("departments", [])),
        posts=frozenset(claims.get("posts", [])),
        name=claims.get("name"),
        expires_at=float(claims["exp"]),
    )


def principal_from_header(settings: PlatformSettings, authorization: str | None) -> Principal:
    """Principal for an ``Authorization`` header; anonymous (public) when there is none."""
    if not authorization:
        return ANONYMOUS
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthError("expected 'Authorization: Bearer <token>'")
    return verify_token(settings, token.strip())
