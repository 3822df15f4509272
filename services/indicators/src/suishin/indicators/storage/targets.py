"""SQL of targets: current values, revisions (a changed value closes the current row and adds
the next revision), history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts.enums import Comparator
from suishin.indicators.domain.definitions import TargetInput
from suishin.indicators.domain.model import TargetSpec


def target_of(row: Mapping[str, Any]) -> TargetSpec:
    return TargetSpec(
        fiscal_year=row["fiscal_year"],
        value=row["value"],
        comparator=Comparator(row["comparator"]) if row["comparator"] else None,
        text=row["text"],
        from_fiscal_year=row["from_fiscal_year"],
        printed=row["printed"],
    )


def target_of_json(item: dict[str, Any]) -> TargetSpec:
    """A target read as a JSON object of its columns, the value as text (exact, as a numeric
    is read)."""
    value = item["value"]
    return target_of({**item, "value": None if value is None else Decimal(value)})


async def current_targets(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, list[TargetSpec]]:
    rows = await conn.fetch(
        """select indicator_id, fiscal_year, from_fiscal_year, value, comparator, text, printed
           from targets where indicator_id = any($1::uuid[]) and superseded_at is null
           order by indicator_id, fiscal_year, from_fiscal_year nulls first""",
        list(indicator_ids),
    )
    out: dict[UUID, list[TargetSpec]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], []).append(target_of(r))
    return out


async def current_with_authors(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, list[tuple[TargetSpec, str | None, datetime]]]:
    """The current targets with who wrote each revision and since when."""
    rows = await conn.fetch(
        """select indicator_id, fiscal_year, from_fiscal_year, value, comparator, text, printed,
                  revised_by, valid_from
           from targets where indicator_id = any($1::uuid[]) and superseded_at is null
           order by indicator_id, fiscal_year, from_fiscal_year nulls first""",
        list(indicator_ids),
    )
    out: dict[UUID, list[tuple[TargetSpec, str | None, datetime]]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], []).append(
            (target_of(r), r["revised_by"], r["valid_from"])
        )
    return out


async def target_history(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, list[asyncpg.Record]]:
    rows = await conn.fetch(
        """select * from targets where indicator_id = any($1::uuid[])
           order by indicator_id, fiscal_year, coalesce(from_fiscal_year, 0), revision""",
        list(indicator_ids),
    )
    out: dict[UUID, list[asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], []).append(r)
    return out


async def insert(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    slot: tuple[int, int | None],
    *,
    value: Decimal | None,
    comparator: Comparator | None,
    text: str | None,
    printed: str | None,
    revision: int,
    reason: str | None,
    revised_by: str | None,
    valid_from: datetime,
    superseded_at: datetime | None = None,
) -> None:
    """One target row (a closed past value when ``superseded_at`` is set)."""
    await conn.execute(
        """insert into targets (indicator_id, fiscal_year, from_fiscal_year, value, comparator,
               text, printed, revision, reason, revised_by, valid_from, superseded_at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        indicator_id,
        slot[0],
        slot[1],
        value,
        comparator.value if comparator else None,
        text,
        printed,
        revision,
        reason,
        revised_by,
        valid_from,
        superseded_at,
    )


async def set_printed(
    conn: asyncpg.Connection, indicator_id: UUID, slot: tuple[int, int | None], printed: str | None
) -> None:
    """Change only the printed wording of the slot's current target."""
    await conn.execute(
        """update targets set printed = $4 where indicator_id = $1
           and fiscal_year = $2 and from_fiscal_year is not distinct from $3
           and superseded_at is null""",
        indicator_id,
        slot[0],
        slot[1],
        printed,
    )


async def close(
    conn: asyncpg.Connection, indicator_id: UUID, slot: tuple[int, int | None], now: datetime
) -> None:
    """Close the slot's current target (it stays in the history)."""
    await conn.execute(
        """update targets set superseded_at = $4 where indicator_id = $1 and fiscal_year = $2
           and from_fiscal_year is not distinct from $3 and superseded_at is null""",
        indicator_id,
        slot[0],
        slot[1],
        now,
    )


async def last_revision(
    conn: asyncpg.Connection, indicator_id: UUID, slot: tuple[int, int | None]
) -> int:
    last = await conn.fetchval(
        """select coalesce(max(revision), 0) from targets where indicator_id = $1
           and fiscal_year = $2 and from_fiscal_year is not distinct from $3""",
        indicator_id,
        slot[0],
        slot[1],
    )
    return int(last)


async def revision_row(
    conn: asyncpg.Connection, indicator_id: UUID, slot: tuple[int, int | None], revision: int
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        """select * from targets where indicator_id = $1 and fiscal_year = $2
           and from_fiscal_year is not distinct from $3 and revision = $4""",
        indicator_id,
        slot[0],
        slot[1],
        revision,
    )
    return row


async def insert_history(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    target: TargetInput,
    *,
    now: datetime,
    revised_by: str | None,
) -> None:
    """A slot's first rows: its past values (closed) and the current one."""
    revision = 0
    valid_from: datetime | None = None
    reason: str | None = None
    for past in target.history:
        revision += 1
        closed = past.replaced_at or now
        await insert(
            conn,
            indicator_id,
            target.slot,
            value=past.value,
            comparator=past.comparator,
            text=past.text,
            printed=None,
            revision=revision,
            reason=reason,
            revised_by=revised_by,
            valid_from=valid_from or min(closed, now),
            superseded_at=closed,
        )
        valid_from, reason = closed, past.reason
    await _insert_current(
        conn, indicator_id, target, revision + 1, reason, revised_by, valid_from or now
    )


async def revise_target(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    target: TargetInput,
    *,
    reason: str,
    revised_by: str | None,
    now: datetime,
) -> int:
    """Close the current target of the slot and add the new value as the next revision."""
    await close(conn, indicator_id, target.slot, now)
    revision = await last_revision(conn, indicator_id, target.slot) + 1
    await _insert_current(conn, indicator_id, target, revision, reason, revised_by, now)
    return revision


async def _insert_current(
    conn: asyncpg.Connection,
    indicator_id: UUID,
    target: TargetInput,
    revision: int,
    reason: str | None,
    revised_by: str | None,
    valid_from: datetime,
) -> None:
    await insert(
        conn,
        indicator_id,
        target.slot,
        value=target.value,
        comparator=target.comparator,
        text=target.text,
        printed=target.printed,
        revision=revision,
        reason=reason,
        revised_by=revised_by,
        valid_from=valid_from,
    )
