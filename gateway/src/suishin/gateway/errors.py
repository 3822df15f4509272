"""Errors the gateway returns: stable codes, Japanese and English messages, no internals.

Subgraph errors are mapped, never echoed: whatever a subgraph or the network says is scrubbed
of URLs and host names before it reaches a client, so the subgraphs' addresses stay private.
"""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLError

# kit.errors.DomainError renders as "CODE: English / 日本語".
_DOMAIN_MESSAGE = re.compile(r"^(?P<code>[A-Z][A-Z0-9_]+): (?P<en>.*?) / (?P<ja>.*)$", re.S)
_URL = re.compile(r"\b(?:https?|wss?)://[^\s'\"<>)]+", re.I)
_HOST_PORT = re.compile(r"\b(?:\d{1,3}(?:\.\d{1,3}){3}|localhost|[\w.-]+\.internal)(?::\d+)?\b")

# Extension keys a subgraph may pass on to clients.
_SAFE_EXTENSION_KEYS = {"code", "field", "message", "messageEn", "details"}


def scrub(text: str) -> str:
    """``text`` without URLs or host:port pairs."""
    return _HOST_PORT.sub("[internal]", _URL.sub("[internal]", text))


def gateway_error(code: str, message_ja: str, message_en: str, **extra: Any) -> GraphQLError:
    """A GraphQL error with a stable ``code`` and both messages (``message`` is Japanese)."""
    return GraphQLError(
        message_en,
        extensions={"code": code, "message": message_ja, "messageEn": message_en, **extra},
    )


def unauthenticated(detail: str = "") -> GraphQLError:
    return gateway_error(
        "UNAUTHENTICATED",
        "認証が必要です（有効なトークンを Authorization ヘッダーに指定してください）",
        "Authentication required: send a valid 'Authorization: Bearer <token>' header"
        + (f" ({scrub(detail)})" if detail else ""),
    )


def forbidden_tenant() -> GraphQLError:
    return gateway_error(
        "FORBIDDEN",
        "他の自治体のデータにはアクセスできません",
        "You cannot access another municipality's data",
    )


def forbidden(message_ja: str, message_en: str) -> GraphQLError:
    return gateway_error("FORBIDDEN", message_ja, message_en)


def subgraph_unavailable(service: str) -> GraphQLError:
    return gateway_error(
        "SERVICE_UNAVAILABLE",
        f"{service} サービスに接続できません。しばらくしてから再度お試しください",
        f"The {service} service is unavailable; try again shortly",
        service=service,
    )


def subgraph_timeout(service: str) -> GraphQLError:
    return gateway_error(
        "SERVICE_TIMEOUT",
        f"{service} サービスの応答がタイムアウトしました",
        f"The {service} service did not answer in time",
        service=service,
    )


def request_timeout(seconds: float) -> dict[str, Any]:
    """The error body returned when a whole request exceeds the gateway's time limit."""
    return {
        "message": f"The request took longer than {seconds:g}s and was cancelled",
        "extensions": {
            "code": "REQUEST_TIMEOUT",
            "message": f"リクエストが {seconds:g} 秒を超えたため中止しました",
            "messageEn": f"The request took longer than {seconds:g}s and was cancelled",
        },
    }


def from_subgraph(service: str, error: dict[str, Any]) -> GraphQLError:
    """Map one GraphQL error returned by a subgraph to a client-safe error."""
    raw_message = str(error.get("message") or "error")
    extensions = error.get("extensions") or {}
    safe = {k: v for k, v in extensions.items() if k in _SAFE_EXTENSION_KEYS}
    match = _DOMAIN_MESSAGE.match(raw_message)
    if match:
        safe.setdefault("code", match["code"])
        safe.setdefault("messageEn", scrub(match["en"]))
        safe.setdefault("message", scrub(match["ja"]))
        message = scrub(match["en"])
    else:
        message = scrub(raw_message)
        safe.setdefault("code", _code_for(message))
        safe.setdefault("messageEn", message)
        safe.setdefault("message", message)
    safe["service"] = service
    return GraphQLError(message, extensions=safe)


def _code_for(message: str) -> str:
    lowered = message.lower()
    if (
        "cannot query field" in lowered
        or "unknown argument" in lowered
        or "unknown type" in lowered
    ):
        # The gateway and a subgraph disagree on the schema: a deployment problem, not the client's.
        return "SCHEMA_MISMATCH"
    if "forbidden" in lowered or "not allowed" in lowered:
        return "FORBIDDEN"
    return "SUBGRAPH_ERROR"
