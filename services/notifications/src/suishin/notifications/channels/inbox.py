"""The in-app inbox: a notification is in the inbox as soon as it is stored. Storing it also
announces ``notification.delivered`` through the outbox, from which the gateway pushes it live."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts.enums import Severity
from suishin.contracts.events import NotificationDelivered, new_event
from suishin.kit.outbox import enqueue

PRODUCER = "notifications"


async def announce(
    conn: asyncpg.Connection,
    notification: dict[str, Any],
    *,
    channel: str,
    status: str,
    attempts: int,
    error: str | None = None,
) -> UUID:
    """Enqueue ``notification.delivered`` for one notification in the caller's transaction."""
    payload = NotificationDelivered(
        notification_id=notification["id"],
        recipient_id=notification["recipient_id"],
        channel=channel,
        status=status,
        attempts=max(1, attempts),
        severity=Severity(notification["severity"]),
        source_event_id=notification.get("source_event_id"),
        kind=notification["kind"],
        title=notification["title"],
        body=notification["body"],
        link=notification.get("link"),
        error=error[:1000] if error else None,
    )
    event = new_event(
        payload,
        tenant=notification["tenant"],
        aggregate_id=f"{notification['recipient_id']}",
        producer=PRODUCER,
    )
    await enqueue(conn, event)
    return event.event_id
