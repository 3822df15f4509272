"""Digest e-mails: deliveries waiting for their person's daily or weekly slot are bundled into
one e-mail delivery per person."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg


async def due_items(conn: asyncpg.Connection, now: datetime) -> list[asyncpg.Record]:
    """Deliveries waiting for a digest slot that has come, locked, by person."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """select id, tenant, recipient_id, address, digest_due_at from deliveries
           where status = 'digest' and digest_due_at <= $1
           order by tenant, recipient_id, created_at
           for update skip locked""",
        now,
    )
    return rows


async def preferred_cadence(conn: asyncpg.Connection, tenant: str, person: str) -> str | None:
    cadence: str | None = await conn.fetchval(
        "select cadence from preferences where tenant = $1 and person_id = $2",
        tenant,
        person,
    )
    return cadence


async def create(
    conn: asyncpg.Connection,
    *,
    digest_id: UUID,
    delivery_id: UUID,
    tenant: str,
    recipient: str,
    address: str | None,
    cadence: str,
    items: list[UUID],
    now: datetime,
) -> None:
    """A digest, its e-mail delivery (due now) and the items it carries."""
    await conn.execute(
        """insert into digests (id, tenant, recipient_id, cadence, created_at)
           values ($1, $2, $3, $4, $5)""",
        digest_id,
        tenant,
        recipient,
        cadence,
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
        items,
        delivery_id,
        digest_id,
    )


async def cadence(conn: asyncpg.Connection | asyncpg.Pool, digest_id: UUID) -> str:
    value: str = await conn.fetchval("select cadence from digests where id = $1", digest_id)
    return value


async def items(conn: asyncpg.Connection | asyncpg.Pool, delivery_id: UUID) -> list[dict[str, Any]]:
    """The notifications a digest e-mail delivery carries, oldest first."""
    rows = await conn.fetch(
        """select n.* from deliveries d join notifications n on n.id = d.notification_id
           where d.group_id = $1 order by n.created_at, n.id""",
        delivery_id,
    )
    return [dict(r) for r in rows]
