"""Signed webhooks for chat tools and other systems.

Each request carries ``X-Suishin-Timestamp`` (Unix seconds) and ``X-Suishin-Signature:
sha256=<hex>``, the HMAC-SHA256 with the webhook's secret over ``<timestamp>.<body>``. Receivers
recompute it and reject old timestamps (replay). Bodies: generic JSON, Slack (``text`` +
``blocks``) or Microsoft Teams (MessageCard).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from suishin.notifications.channels import DeliveryError

SIGNATURE_HEADER = "X-Suishin-Signature"
TIMESTAMP_HEADER = "X-Suishin-Timestamp"
THEME = {"info": "2F80ED", "warning": "F2994A", "critical": "EB5757"}


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance_seconds: int = 300,
) -> bool:
    """What a receiver does: recompute, compare in constant time, refuse stale timestamps."""
    try:
        age = abs(now - int(timestamp))
    except ValueError:
        return False
    if age > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def render_body(fmt: str, n: dict[str, Any], url: str) -> bytes:
    title, text, severity = n["title"], n["body"], n["severity"]
    data: dict[str, Any]
    if fmt == "slack":
        data = {
            "text": title,
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": text[:2900]}},
                {
                    "type": "context",
                    "elements": [
                        {"type": "mrkdwn", "text": f"<{url}|詳細 / Details> · {severity}"}
                    ],
                },
            ],
        }
    elif fmt == "teams":
        data = {
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": title,
            "themeColor": THEME.get(severity, THEME["info"]),
            "title": title,
            "text": text.replace("\n", "  \n"),
            "potentialAction": [
                {
                    "@type": "OpenUri",
                    "name": "詳細 / Details",
                    "targets": [{"os": "default", "uri": url}],
                }
            ],
        }
    else:
        data = {
            "type": "suishin.notification",
            "id": str(n["id"]),
            "tenant": n["tenant"],
            "kind": n["kind"],
            "severity": severity,
            "title": title,
            "body": text,
            "link": n.get("link"),
            "url": url,
            "subject": n.get("subject"),
            "period": n.get("period"),
            "created_at": n["created_at"].isoformat(),
        }
    return json.dumps(data, ensure_ascii=False).encode()


class WebhookSender:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    async def post(
        self, url: str, secret: str, body: bytes, *, timestamp: int, delivery_id: str
    ) -> str:
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
            "X-Suishin-Delivery": delivery_id,
            "User-Agent": "suishin-notifications",
        }
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"webhook timeout after {self.timeout}s: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook error: {exc!r}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return f"HTTP {status}"
        detail = f"HTTP {status}: {response.text[:200]}"
        retryable = status >= 500 or status in (408, 425, 429)
        raise DeliveryError(detail, permanent=not retryable)
