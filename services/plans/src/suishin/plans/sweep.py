"""The progress-report deadline sweep: reminders before a period's due date and one overdue
signal per measure after it (background job of the plans service; state changes through
:func:`suishin.plans.commands.sweep_report_deadline`, one transaction per ward and period)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

import asyncpg

from suishin.kit.clock import Clock
from suishin.plans import commands, storage

log = logging.getLogger(__name__)


async def sweep_deadlines(pool: asyncpg.Pool, now: datetime) -> int:
    """Signal every ward's deadlines as of ``now``; return the events enqueued. Idempotent: a
    second sweep at the same time enqueues nothing."""
    total = 0
    for deadline in await storage.reports.deadlines(pool):
        async with pool.acquire() as conn, conn.transaction():
            total += await commands.sweep_report_deadline(conn, deadline, now)
    return total


async def run_deadline_sweeper(
    pool: Callable[[], asyncpg.Pool],
    clock: Clock,
    *,
    interval: float,
    on_events: Callable[[], None] | None = None,
) -> None:
    """Sweep forever, every ``interval`` seconds."""
    while True:
        try:
            n = await sweep_deadlines(pool(), clock.now())
            if n:
                log.info("report deadline sweep signalled", extra={"events": n})
                if on_events is not None:
                    on_events()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("report deadline sweep failed; next try after the interval")
        await asyncio.sleep(interval)
