"""The notifications service object: clock, renderer, notifier, dispatcher and scheduler around
one ServiceRuntime."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from suishin.contracts import topics
from suishin.contracts.events import IndicatorStatusChanged, MeasureEvaluated, MeasureStatusChanged
from suishin.kit.clock import Clock, SystemClock
from suishin.kit.service import ServiceRuntime
from suishin.notifications import triggers
from suishin.notifications.digests import compose_due_digests
from suishin.notifications.dispatcher import Dispatcher
from suishin.notifications.escalation import escalate_due
from suishin.notifications.handlers import event_handler
from suishin.notifications.notifier import Notifier
from suishin.notifications.rendering import Renderer
from suishin.notifications.settings import NotificationsSettings
from suishin.notifications.shaping import DigestSchedule, parse_hhmm

log = logging.getLogger(__name__)


class NotificationsRuntime(ServiceRuntime):
    """The service runtime and the notifications service built around it."""

    service: NotificationsService


def service_of(runtime: ServiceRuntime) -> NotificationsService:
    assert isinstance(runtime, NotificationsRuntime)
    return runtime.service


class NotificationsService:
    def __init__(
        self,
        runtime: NotificationsRuntime,
        settings: NotificationsSettings,
        clock: Clock | None = None,
        *,
        consume: bool = True,
        background: bool = True,
    ) -> None:
        self.runtime = runtime
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.renderer = Renderer(settings.templates_dir, portal_url=settings.portal_url)
        self.notifier = Notifier(settings, self.renderer)
        self.digest_schedule = DigestSchedule(
            daily_at=parse_hhmm(settings.daily_digest_time),
            weekly_weekday=settings.weekly_digest_weekday,
            weekly_at=parse_hhmm(settings.weekly_digest_time),
        )
        self.dispatcher = Dispatcher(
            lambda: self.runtime.pool, settings, self.clock, self.renderer, self.notifier
        )
        self.handlers = {
            topics.INDICATOR_STATUS_CHANGED: event_handler(
                self, "notifications:indicator.status_changed", triggers.from_indicator
            ),
            topics.MEASURE_STATUS_CHANGED: event_handler(
                self, "notifications:measure.status_changed", triggers.from_measure_status
            ),
            topics.MEASURE_EVALUATED: event_handler(
                self, "notifications:measure.evaluated", triggers.from_measure_evaluation
            ),
        }
        if consume:
            runtime.add_consumer(
                topics.INDICATOR_STATUS_CHANGED,
                IndicatorStatusChanged,
                self.handlers[topics.INDICATOR_STATUS_CHANGED],
            )
            runtime.add_consumer(
                topics.MEASURE_STATUS_CHANGED,
                MeasureStatusChanged,
                self.handlers[topics.MEASURE_STATUS_CHANGED],
            )
            runtime.add_consumer(
                topics.MEASURE_EVALUATED,
                MeasureEvaluated,
                self.handlers[topics.MEASURE_EVALUATED],
            )
        if background:
            runtime.add_background(self.dispatcher.run)
            runtime.add_background(self.run_scheduler)
        runtime.service = self

    @property
    def pool(self) -> asyncpg.Pool:
        return self.runtime.pool

    async def run_scheduler(self) -> None:
        while True:
            try:
                await self.scheduler_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("scheduler pass failed; continuing")
            with contextlib.suppress(TimeoutError):
                await asyncio.sleep(self.settings.scheduler_interval)

    async def scheduler_pass(self) -> dict[str, int]:
        """Compose due digests and escalate due alerts (one pass, at the clock's now)."""
        now = self.clock.now()
        async with self.pool.acquire() as conn, conn.transaction():
            digests = await compose_due_digests(conn, now)
            escalated = await escalate_due(conn, self.notifier, now, self.digest_schedule)
        if digests or escalated:
            self.dispatcher.wake()
        return {"digests": len(digests), "escalations": len(escalated)}
