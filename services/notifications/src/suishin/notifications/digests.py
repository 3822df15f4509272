"""Daily and weekly digests: notices of people who chose a digest cadence wait (status
``digest``) until their slot, then go out as one e-mail."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID, uuid4

import asyncpg

log = logging.getLogger(__name__)


async def compose_due_digests(conn: asyncpg.Connection, now: datetime) -> list[UUID]:
    """Bundle due digest items into one e-mail delivery per person; return the digest ids."""
    rows = await conn.fetch(
        """select id, tenant, recipient_id, address, digest_due_at from deliveries
           where status = 'digest' and digest_due_at <= $1
           order by tenant, recipient_id, created_at
           for update skip locked""",
        now,
    )
    groups: dict[tuple[str, str, str | None], list[asyncpg.Record]] = {}
    for r in rows:
        groups.setdefault((r["tenant"], r["recipient_id"], r["address"]), []).append(r)
    created: list[UUID] = []
    for (tenant, recipient, address), items in groups.items():
        cadence = await conn.fetchval(
            "select cadence from preferences where tenant = $1 and person_id = $2",
            tenant,
            recipient,
        )
        digest_id, delivery_id = uuid4(), uuid4()
        await conn.execute(
            """insert into digests (id, tenant, recipient_id, cadence, created_at)
               values ($1, $2, $3, $4, $5)""",
            digest_id,
            tenant,
            recipient,
            cadence or "daily",
            now,
        )
        await conn.execute(
            """insert into deliveries (id, digest_id, tenant, recipient_id, channel, address,
                   status, next_attempt_at, created_at)
               values ($1, $2, $3, $4, 'email', $5, 'pending', $6, $6)""",
            delivery_id,
            digest_id,
            tenant,
            recipient,
            address,
            now,
        )
        await conn.execute(
            """update deliveries set status = 'digested', group_id = $2, digest_id = $3
               where id = any($1::uuid[])""",
            [r["id"] for r in items],
            delivery_id,
            digest_id,
        )
        created.append(digest_id)
        log.info(
            "digest composed", extra={"tenant": tenant, "recipient": recipient, "items": len(items)}
        )
    return created
