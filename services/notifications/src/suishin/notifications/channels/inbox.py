"""The in-app inbox: a notification is in the inbox as soon as it is stored. Storing it also
announces ``notification.delivered`` through the outbox, from which the gateway pushes it live."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts.enums import Severity
from suishin.contracts.events import Envelope, NotificationDelivered, new_event
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
    event = delivered_event(
        notification, channel=channel, status=status, attempts=attempts, error=error
    )
    await enqueue(conn, event)
    return event.event_id


def delivered_event(
    notification: dict[str, Any],
    *,
    channel: str,
    status: str,
    attempts: int,
    error: str | None = None,
) -> Envelope[NotificationDelivered]:
    """The ``notification.delivered`` event for one notification (to enqueue, alone or with
    the rest of a batch through ``kit.outbox.enqueue_many``)."""
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
    return new_event(
        payload,
        tenant=notification["tenant"],
        aggregate_id=f"{notification['recipient_id']}",
        producer=PRODUCER,
    )
