"""The clock-driven sweep that sends the reminders of the milestones plans print
(``plan.milestone_due``), through :func:`suishin.plans.commands.sweep_milestones`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import asyncpg

from suishin.kit.clock import Clock
from suishin.plans import commands

log = logging.getLogger(__name__)


async def sweep_once(pool: asyncpg.Pool, clock: Clock) -> int:
    """One sweep in one transaction; returns how many reminders were announced."""
    async with pool.acquire() as conn, conn.transaction():
        return len(await commands.sweep_milestones(conn, clock.now()))


async def run_milestone_sweeper(
    pool: Callable[[], asyncpg.Pool],
    clock: Clock,
    *,
    interval: float,
    on_changes: Callable[[], None] | None = None,
) -> None:
    """Sweep forever, every ``interval`` seconds."""
    while True:
        try:
            sent = await sweep_once(pool(), clock)
            if sent:
                log.info("milestone reminders sent", extra={"reminders": sent})
                if on_changes is not None:
                    on_changes()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("milestone sweep failed; next try after the interval")
        await asyncio.sleep(interval)
