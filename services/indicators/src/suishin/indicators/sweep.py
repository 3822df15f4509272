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
from suishin.indicators import storage
from suishin.indicators.reevaluation import reevaluate
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
        async with pool.acquire() as conn, conn.transaction():
            ids = [
                r["id"]
                for r in await conn.fetch(
                    """select id from indicators
                       where cadence <> 'none' and period_end_fy >= $1
                         and ($2::uuid is null or id > $2)
                       order by id limit $3""",
                    current_fy - 1,
                    last,
                    page_size,
                )
            ]
            if not ids:
                return changes
            records = await storage.load_indicators(conn, ids, lock=True)
            changes += len(await reevaluate(conn, records, now))
            last = ids[-1]


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
