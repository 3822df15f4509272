"""The runtime of the notifications service: kit's runtime plus the clock, renderer, router,
dispatcher and scheduler of the service, and a pool for the CLI and tools."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

import asyncpg

from suishin.kit.clock import Clock, SystemClock
from suishin.kit.db import transaction
from suishin.kit.handlers import InboxHandler
from suishin.kit.migrations import open_migrated_pool
from suishin.kit.service import ServiceRuntime
from suishin.kit.settings import PlatformSettings
from suishin.notifications.digests import compose_due_digests
from suishin.notifications.dispatcher import Dispatcher
from suishin.notifications.domain.notices import Policy, Router
from suishin.notifications.domain.shaping import (
    JST,
    BusinessCalendar,
    DigestSchedule,
    QuietHours,
    parse_hhmm,
)
from suishin.notifications.escalation import escalate_due
from suishin.notifications.rendering import Renderer, RenderError, fallback
from suishin.notifications.settings import NotificationsSettings
from suishin.notifications.storage.directory import SnapshotCache

SERVICE_NAME = "notifications"
MIGRATIONS = resources.files("suishin.notifications") / "migrations"

log = logging.getLogger(__name__)


class NotificationsRuntime(ServiceRuntime):
    """The service runtime with the objects of the notifications service: the clock (tests
    inject one), the renderer of notices and e-mails, the router that decides who is told what,
    the dispatcher that sends e-mails and webhooks, the digest schedule and the scheduler of
    digests and escalations. ``handlers`` holds the Kafka handlers by topic (see
    :mod:`suishin.notifications.handlers`)."""

    settings: NotificationsSettings

    def __init__(self, settings: NotificationsSettings, clock: Clock | None = None) -> None:
        super().__init__(SERVICE_NAME, settings, migrations=MIGRATIONS)
        self.clock: Clock = clock or SystemClock()
        self.renderer = Renderer(settings.templates_dir, portal_url=settings.portal_url)
        calendar = BusinessCalendar()
        # Load the holiday tables now: their first use imports them (~0.3 s), which would
        # otherwise delay the first alert after a start.
        calendar.is_business_day(datetime.now(JST).date())
        self.router = Router(
            Policy(
                calendar=calendar,
                quiet=QuietHours(
                    parse_hhmm(settings.quiet_hours_start), parse_hhmm(settings.quiet_hours_end)
                ),
                grouping=timedelta(seconds=settings.grouping_window_seconds),
                escalation_business_days=settings.escalation_business_days,
            ),
            self.notice_text,
        )
        self.digest_schedule = DigestSchedule(
            daily_at=parse_hhmm(settings.daily_digest_time),
            weekly_weekday=settings.weekly_digest_weekday,
            weekly_at=parse_hhmm(settings.weekly_digest_time),
        )
        self.dispatcher = Dispatcher(
            lambda: self.pool, settings, self.clock, self.renderer, schema=self.schema
        )
        self.handlers: dict[str, InboxHandler[Any]] = {}
        # the tenants' routing snapshots between consumer batches, checked against the
        # tenants' versions in every batch (migration 004)
        self.snapshots = SnapshotCache()

    def notice_text(
        self,
        tenant: str,
        kind: str,
        language: str,
        context: Mapping[str, Any],
        facts: Mapping[str, Any],
    ) -> tuple[str, str, str | None]:
        """A notice's title and body from its template; a plain notice when the template
        fails (with the error, kept on the notification)."""
        try:
            title, body = self.renderer.notice(kind, language, context)
        except RenderError as exc:
            log.error(
                "template failed; sent a plain notice instead",
                extra={"tenant": tenant, "kind": kind, "error": str(exc)},
            )
            title, body = fallback(kind, language, facts)
            return title, body, str(exc)
        return title, body, None

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
        async with transaction(self.pool) as conn:
            digests = await compose_due_digests(conn, now)
            escalated = await escalate_due(conn, self.router, now, self.digest_schedule)
        if digests or escalated:
            self.dispatcher.wake()
        return {"digests": len(digests), "escalations": len(escalated)}


def runtime_of(runtime: ServiceRuntime) -> NotificationsRuntime:
    """``runtime`` as the notifications runtime it is."""
    assert isinstance(runtime, NotificationsRuntime)
    return runtime


async def open_pool(settings: PlatformSettings, *, max_size: int = 4) -> asyncpg.Pool:
    """A pool on the notifications schema with migrations applied (for the CLI and tools)."""
    return await open_migrated_pool(
        settings.database_url, settings.schema_name(SERVICE_NAME), MIGRATIONS, max_size=max_size
    )
