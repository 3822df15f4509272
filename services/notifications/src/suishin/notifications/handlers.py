"""Event handlers: one transaction per batch, inbox claims for idempotency, then routing.

A batch costs a bounded number of statements whatever its size: one inbox claim for all its
events, the snapshots of the tenants involved (one query per table), the open alerts of its
subjects, and one write per table (see ``Notifier.apply_many``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from suishin.contracts.events import Envelope
from suishin.kit.consumer import Rejection
from suishin.kit.inbox import claim_many
from suishin.notifications.triggers import Signal

if TYPE_CHECKING:
    from suishin.notifications.service import NotificationsService

log = logging.getLogger(__name__)


class EventHandler:
    """Applies a batch of one event type; duplicates (same event id) change nothing."""

    def __init__(
        self,
        service: NotificationsService,
        consumer: str,
        to_signal: Callable[[Envelope[Any]], Signal],
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.to_signal = to_signal

    async def __call__(self, events: list[Envelope[Any]]) -> Sequence[Rejection]:
        service = self.service
        now = service.clock.now()
        async with service.pool.acquire() as conn, conn.transaction():
            fresh = await claim_many(conn, self.consumer, [e.event_id for e in events])
            signals: list[Signal] = []
            for event in events:
                if event.event_id not in fresh:
                    continue
                fresh.discard(event.event_id)  # the same event twice in one batch
                signals.append(self.to_signal(event))
            outcomes = await service.notifier.apply_many(
                conn, signals, now, service.digest_schedule
            )
            created = sum(len(o.notifications) for o in outcomes)
        if created:
            service.dispatcher.wake()
        return []
