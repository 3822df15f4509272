"""Event handlers: one transaction per batch, inbox claims for idempotency, then routing.

A batch costs a bounded number of statements whatever its size: one inbox claim for all its
events, the snapshots of the tenants involved (one query per table), the open alerts of its
subjects, and one write per table (see ``Notifier.apply_many``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from asyncpg import Connection

from suishin.contracts.events import Envelope
from suishin.kit.handlers import InboxHandler, Outcome
from suishin.notifications.triggers import Signal

if TYPE_CHECKING:
    from suishin.notifications.service import NotificationsService

log = logging.getLogger(__name__)


def event_handler(
    service: NotificationsService,
    consumer: str,
    to_signal: Callable[[Envelope[Any]], Signal],
) -> InboxHandler[Any]:
    """Applies a batch of one event type; duplicates (same event id) change nothing."""

    async def apply(conn: Connection, events: list[Envelope[Any]]) -> Outcome:
        outcomes = await service.notifier.apply_many(
            conn, [to_signal(e) for e in events], service.clock.now(), service.digest_schedule
        )
        created = sum(len(o.notifications) for o in outcomes)
        return Outcome(changed=created > 0, applied=len(events))

    return InboxHandler(consumer, lambda: service.pool, apply, wake=service.dispatcher.wake)
