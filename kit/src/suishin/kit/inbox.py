"""Idempotent consumers: remember (consumer, event_id) in the handler's own transaction."""

from collections.abc import Iterable
from uuid import UUID

import asyncpg


async def claim(conn: asyncpg.Connection, consumer: str, event_id: UUID) -> bool:
    """Record the event for ``consumer``; False when it was applied before (a duplicate)."""
    return bool(
        await conn.fetchval(
            """insert into inbox (consumer, event_id) values ($1, $2)
               on conflict do nothing returning true""",
            consumer,
            event_id,
        )
    )


async def claim_many(
    conn: asyncpg.Connection, consumer: str, event_ids: Iterable[UUID]
) -> set[UUID]:
    """Claim a batch at once; return the ids that are new (not seen before by ``consumer``)."""
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return set()
    rows = await conn.fetch(
        """insert into inbox (consumer, event_id)
           select $1, id from unnest($2::uuid[]) as t(id)
           on conflict do nothing
           returning event_id""",
        consumer,
        ids,
    )
    return {r["event_id"] for r in rows}


async def release(conn: asyncpg.Connection, consumer: str, event_ids: Iterable[UUID]) -> None:
    """Forget the claims of ``event_ids`` (events refused in this transaction: a redelivery is
    judged again)."""
    await conn.execute(
        "delete from inbox where consumer = $1 and event_id = any($2::uuid[])",
        consumer,
        list(event_ids),
    )


async def purge(conn: asyncpg.Connection, older_than_days: int = 30) -> int:
    status = await conn.execute(
        "delete from inbox where received_at < now() - make_interval(days => $1)", older_than_days
    )
    return int(status.split()[-1])
