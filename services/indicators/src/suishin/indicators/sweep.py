"""The scheduled sweep that marks overdue reports as ``stale``.

Evaluation already knows the reporting cadence; the sweep only re-runs it as time passes, for
every indicator whose plan period is not long over, one page of indicators per transaction.
A status that becomes ``stale`` is announced like any other change (the notifications service
treats ``to_status=stale`` as "report overdue").
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID

import asyncpg

from suishin.contracts.calendar import fiscal_year_of
from suishin.indicators import commands
from suishin.kit import inbox
from suishin.kit.clock import Clock

log = logging.getLogger(__name__)

INBOX_RETENTION_DAYS = 30


async def sweep(pool: asyncpg.Pool, now: datetime, *, page_size: int = 500) -> int:
    """Re-evaluate every indicator with a reporting cadence; return the status changes made."""
    current_fy = fiscal_year_of(now)
    last: UUID | None = None
    changes = 0
    while True:
        async with commands.transaction(pool) as conn:
            page, changed = await commands.sweep_page(
                conn, now, min_end_fy=current_fy - 1, after=last, limit=page_size
            )
        if not page:
            return changes
        changes += len(changed)
        last = page[-1]


async def run_sweeper(
    pool: Callable[[], asyncpg.Pool],
    clock: Clock,
    *,
    interval: float,
    page_size: int,
    on_changes: Callable[[], None] | None = None,
) -> None:
    """Sweep forever, every ``interval`` seconds; once an hour also forget inbox entries older
    than the retention window (redeliveries come within minutes, not weeks)."""
    last_purge = 0.0
    while True:
        try:
            n = await sweep(pool(), clock.now(), page_size=page_size)
            if n:
                log.info("stale sweep changed statuses", extra={"changes": n})
                if on_changes is not None:
                    on_changes()
            if time.monotonic() - last_purge > 3600:
                last_purge = time.monotonic()
                async with pool().acquire() as conn:
                    await inbox.purge(conn, INBOX_RETENTION_DAYS)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("stale sweep failed; next try after the interval")
        await asyncio.sleep(interval)
