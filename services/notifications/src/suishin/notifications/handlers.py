"""Event handlers: one transaction per batch, inbox claims for idempotency, then routing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from suishin.contracts.events import Envelope
from suishin.kit.consumer import Rejection
from suishin.kit.inbox import claim_many
from suishin.notifications.recipients import TenantSnapshot, load_snapshot
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
        created = 0
        async with service.pool.acquire() as conn, conn.transaction():
            fresh = await claim_many(conn, self.consumer, [e.event_id for e in events])
            snapshots: dict[str, TenantSnapshot] = {}
            for event in events:
                if event.event_id not in fresh:
                    continue
                fresh.discard(event.event_id)  # the same event twice in one batch
                signal = self.to_signal(event)
                snap = snapshots.get(event.tenant)
                if snap is None:
                    snap = await load_snapshot(conn, event.tenant, now, service.digest_schedule)
                    snapshots[event.tenant] = snap
                outcome = await service.notifier.apply(conn, signal, snap, now)
                created += len(outcome.notifications)
        if created:
            service.dispatcher.wake()
        return []
