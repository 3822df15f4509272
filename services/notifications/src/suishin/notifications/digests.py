"""Daily and weekly digests: notices of people who chose a digest cadence wait (status
``digest``) until their slot, then go out as one e-mail."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

import asyncpg

from suishin.notifications import commands, storage

log = logging.getLogger(__name__)


async def compose_due_digests(conn: asyncpg.Connection, now: datetime) -> list[UUID]:
    """Bundle due digest items into one e-mail delivery per person; return the digest ids."""
    rows = await storage.digests.due_items(conn, now)
    groups: dict[tuple[str, str, str | None], list[asyncpg.Record]] = {}
    for r in rows:
        groups.setdefault((r["tenant"], r["recipient_id"], r["address"]), []).append(r)
    created: list[UUID] = []
    for (tenant, recipient, address), items in groups.items():
        digest_id = await commands.compose_digest(
            conn, tenant, recipient, address, [r["id"] for r in items], now
        )
        created.append(digest_id)
        log.info(
            "digest composed", extra={"tenant": tenant, "recipient": recipient, "items": len(items)}
        )
    return created
