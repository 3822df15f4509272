"""SQL of measurements (reported actuals): writing a batch and deciding which value of each
period is current, reading them back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from suishin.indicators.domain.model import Observation, ReportingPeriod


@dataclass(frozen=True)
class NewMeasurement:
    tenant: str
    indicator_id: UUID
    period: ReportingPeriod
    value: Decimal | None
    text_value: str | None
    unit: str | None
    source: str
    idempotency_key: str
    reported_by: str | None
    is_correction: bool
    comment: str | None
    occurred_at: datetime
    event_id: UUID | None
    via: str


@dataclass(frozen=True)
class Written:
    """What :func:`write_measurements` stored: the new rows' ids in order, and the current
    values of every indicator it wrote for, after the write (what
    :func:`current_observations` would read)."""

    ids: list[int]
    current: dict[UUID, list[Observation]]


@dataclass(frozen=True)
class Prepared:
    """What a batch's write needs to know first (:func:`prepare_write`)."""

    by_key: dict[tuple[str, str], asyncpg.Record]
    """The stored measurements of the batch's (tenant, idempotency key)s."""
    current: list[asyncpg.Record]
    """The current values of the batch's indicators."""
    ids: list[int]
    """New measurement ids drawn from the sequence, increasing."""


async def prepare_write(
    conn: asyncpg.Connection,
    keys: Sequence[tuple[str, str]],
    indicator_ids: Sequence[UUID],
    count: int,
) -> Prepared:
    """In one statement: the measurements already stored under ``keys`` (duplicates and
    reused keys), every current value of ``indicator_ids``, and ``count`` new ids (the
    caller may use fewer: a gap in the ids is harmless)."""
    if not keys and not indicator_ids and count == 0:
        return Prepared({}, [], [])
    read = await conn.fetch(
        """select k.tenant, k.idempotency_key, m.id, m.indicator_id, m.period,
                  m.is_correction, m.occurred_at, m.value, m.text_value
           from measurements m
           join unnest($1::text[], $2::text[]) as k(tenant, idempotency_key)
             on m.tenant = k.tenant and m.idempotency_key = k.idempotency_key
           union all
           select null, null, id, indicator_id, period, is_correction, occurred_at, value,
                  text_value
           from measurements where is_current and indicator_id = any($3::uuid[])
           union all
           select null, null, nextval(pg_get_serial_sequence('measurements', 'id')),
                  null, null, null, null, null, null
           from generate_series(1, $4)""",
        [k[0] for k in keys],
        [k[1] for k in keys],
        list(indicator_ids),
        count,
    )
    return Prepared(
        {(r["tenant"], r["idempotency_key"]): r for r in read if r["tenant"] is not None},
        [r for r in read if r["tenant"] is None and r["indicator_id"] is not None],
        sorted(r["id"] for r in read if r["indicator_id"] is None),
    )


async def write_measurements(
    conn: asyncpg.Connection, rows: Sequence[NewMeasurement], prepared: Prepared | None = None
) -> Written:
    """Store new reports (their idempotency keys are unused) and decide, per indicator and
    period, which value is current; return the new rows' ids in order and the indicators'
    current values (read once, before the write, and updated with its decisions: the caller
    evaluates them without reading them again). ``prepared``: that read, done by
    :func:`prepare_write` with the check of the batch's idempotency keys (else done here).

    The current value is decided by one order, ``(is_correction, occurred_at, received)``: a
    correction outranks every ordinary report whatever its ``occurred_at``; among corrections,
    and among ordinary reports, the one recorded last wins (greatest ``occurred_at``; on a tie
    the one received last). Every other value that competed with it (the previous current
    one, earlier values of the same batch, a late report) is kept, not current, and points to
    the value current when it was superseded. Each row is written once: ids are drawn from the
    sequence first (with the read of the current values) so the rows can be inserted with their
    final state, and only the previous current values are updated, in the same statement. Two
    consumers racing on one idempotency key make the insert fail on the unique key; the batch is
    then retried event by event and the loser finds the stored report (a duplicate).
    """
    if not rows:
        return Written([], {})
    wanted = {r.indicator_id for r in rows}
    if prepared is None:
        prepared = await prepare_write(conn, [], list(wanted), len(rows))
    if len(prepared.ids) < len(rows):
        raise ValueError(f"{len(rows)} rows to write, {len(prepared.ids)} ids drawn")
    stored = [r for r in prepared.current if r["indicator_id"] in wanted]
    ids = prepared.ids[: len(rows)]
    pairs = {(r.indicator_id, r.period.label) for r in rows}
    current = [r for r in stored if (r["indicator_id"], r["period"]) in pairs]
    # Candidates per (indicator, period): the stored current value and the new ones.
    best: dict[tuple[UUID, str], tuple[bool, datetime, int]] = {
        (r["indicator_id"], r["period"]): (r["is_correction"], r["occurred_at"], r["id"])
        for r in current
    }
    for row, new_id in zip(rows, ids, strict=True):
        pair = (row.indicator_id, row.period.label)
        candidate = (row.is_correction, row.occurred_at, new_id)
        if pair not in best or candidate > best[pair]:
            best[pair] = candidate
    winners = {pair: winner_id for pair, (_, _, winner_id) in best.items()}
    beaten = [
        (r["id"], winners[(r["indicator_id"], r["period"])])
        for r in current
        if winners[(r["indicator_id"], r["period"])] != r["id"]
    ]
    superseded_by = [
        None
        if winners[(r.indicator_id, r.period.label)] == new_id
        else winners[(r.indicator_id, r.period.label)]
        for r, new_id in zip(rows, ids, strict=True)
    ]
    # One statement: the new rows, and the previous current values they beat marked as
    # superseded (the winners they point to are checked, as foreign keys, at its end, when
    # the new rows exist).
    inserted = await conn.fetch(
        """with beaten as (
               update measurements m
               set is_current = false, superseded_by = v.winner,
                   superseded_at = clock_timestamp()
               from unnest($19::bigint[], $20::bigint[]) as v(id, winner) where m.id = v.id
           )
           insert into measurements (id, tenant, indicator_id, period, fiscal_year, period_end,
               value, text_value, unit, source, idempotency_key, reported_by, is_correction,
               comment, occurred_at, event_id, via, is_current, superseded_by, superseded_at)
           overriding system value
           select i, t, ind, p, fy, pe, v, tv, u, src, k, rb, c, cm, oa, e, via,
                  sb is null, sb, case when sb is null then null else clock_timestamp() end
           from unnest($1::bigint[], $2::text[], $3::uuid[], $4::text[], $5::int[], $6::date[],
               $7::numeric[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
               $13::bool[], $14::text[], $15::timestamptz[], $16::uuid[], $17::text[],
               $18::bigint[])
             as x(i, t, ind, p, fy, pe, v, tv, u, src, k, rb, c, cm, oa, e, via, sb)
           returning id, indicator_id, period, value, text_value, is_current""",
        ids,
        [r.tenant for r in rows],
        [r.indicator_id for r in rows],
        [r.period.label for r in rows],
        [r.period.fiscal_year for r in rows],
        [r.period.end for r in rows],
        [r.value for r in rows],
        [r.text_value for r in rows],
        [r.unit for r in rows],
        [r.source for r in rows],
        [r.idempotency_key for r in rows],
        [r.reported_by for r in rows],
        [r.is_correction for r in rows],
        [r.comment for r in rows],
        [r.occurred_at for r in rows],
        [r.event_id for r in rows],
        [r.via for r in rows],
        superseded_by,
        [b[0] for b in beaten],
        [b[1] for b in beaten],
    )
    # the current values after the write: the stored ones no new row beat, and the new winners
    # as the database returned them (as current_observations reads them)
    lost = {old for old, _ in beaten}
    return Written(
        ids,
        _observations(
            [r for r in stored if r["id"] not in lost], [r for r in inserted if r["is_current"]]
        ),
    )


async def current_observations(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, list[Observation]]:
    rows = await conn.fetch(
        """select indicator_id, period, value, text_value from measurements
           where is_current and indicator_id = any($1::uuid[])""",
        list(indicator_ids),
    )
    return _observations(rows)


def _observations(*rows: Sequence[asyncpg.Record]) -> dict[UUID, list[Observation]]:
    """Current values (``indicator_id``, ``period``, ``value``, ``text_value``) by indicator."""
    out: dict[UUID, list[Observation]] = {}
    periods: dict[str, ReportingPeriod] = {}
    for r in itertools.chain(*rows):
        label = r["period"]
        period = periods.get(label)
        if period is None:
            period = periods[label] = ReportingPeriod.parse(label)
        out.setdefault(r["indicator_id"], []).append(
            Observation(period, r["value"], r["text_value"])
        )
    return out


async def measurement_history(
    conn: asyncpg.Connection,
    indicator_ids: Sequence[UUID],
    *,
    period: str | None = None,
    include_superseded: bool = True,
) -> dict[UUID, list[asyncpg.Record]]:
    rows = await conn.fetch(
        """select * from measurements
           where indicator_id = any($1::uuid[])
             and ($2::text is null or period = $2)
             and ($3 or is_current)
           order by indicator_id, period_end, period, occurred_at, id""",
        list(indicator_ids),
        period,
        include_superseded,
    )
    out: dict[UUID, list[asyncpg.Record]] = {}
    for r in rows:
        out.setdefault(r["indicator_id"], []).append(r)
    return out


async def has_current(conn: asyncpg.Connection, indicator_id: UUID, period: str) -> bool:
    """Whether the period has a current value."""
    return bool(
        await conn.fetchval(
            """select 1 from measurements where indicator_id = $1 and period = $2
               and is_current""",
            indicator_id,
            period,
        )
    )


async def measurement(conn: asyncpg.Connection, measurement_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "select * from measurements where id = $1", measurement_id
    )
    return row


async def current_for_export(db: Any, indicator_ids: Sequence[UUID]) -> dict[UUID, list[Any]]:
    """The current values of each indicator by period (``db``: connection or pool)."""
    out: dict[UUID, list[Any]] = {}
    for m in await db.fetch(
        """select indicator_id, period, period_end, value, text_value, source from measurements
           where indicator_id = any($1::uuid[]) and is_current order by period_end, period""",
        list(indicator_ids),
    ):
        out.setdefault(m["indicator_id"], []).append(m)
    return out
