"""Sessions, CSRF and sign-in.

The bearer token lives only in the session: Starlette's signed, httpOnly, SameSite=Lax cookie.
It is never put in a URL, a page, a script or a log. Every form carries a CSRF token bound to
the session and checked on POST."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from suishin.web.settings import WebSettings


@dataclass(frozen=True)
class User:
    subject: str
    tenant: str | None
    roles: tuple[str, ...]
    departments: tuple[str, ...]
    posts: tuple[str, ...]
    name: str | None
    token: str

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_executive(self) -> bool:
        return "executive" in self.roles or "admin" in self.roles

    @property
    def is_reporter(self) -> bool:
        return "reporter" in self.roles or "admin" in self.roles


def current_user(request: Request) -> User | None:
    data = request.session.get("user")
    if not isinstance(data, dict) or not data.get("token"):
        return None
    if data.get("expires", 0) < time.time():
        request.session.pop("user", None)
        return None
    return User(
        subject=data["subject"],
        tenant=data.get("tenant"),
        roles=tuple(data.get("roles", ())),
        departments=tuple(data.get("departments", ())),
        posts=tuple(data.get("posts", ())),
        name=data.get("name"),
        token=data["token"],
    )


def sign_in(request: Request, me: dict[str, Any], token: str, settings: WebSettings) -> None:
    """Store who the gateway says the token belongs to; a new session id against fixation."""
    lang = request.session.get("lang")
    request.session.clear()
    if lang:
        request.session["lang"] = lang
    request.session["user"] = {
        "subject": me["subject"],
        "tenant": me.get("tenant"),
        "roles": [str(r).lower() for r in me.get("roles", [])],
        "departments": list(me.get("departments", [])),
        "posts": list(me.get("posts", [])),
        "name": me.get("name"),
        "token": token,
        "expires": time.time() + settings.session_max_age,
    }
    request.session["csrf"] = secrets.token_urlsafe(24)


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def csrf_ok(request: Request, submitted: object) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and isinstance(submitted, str)
        and hmac.compare_digest(expected.encode(), submitted.encode())
    )


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local paths: no open redirect to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
