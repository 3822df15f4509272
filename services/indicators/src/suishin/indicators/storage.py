"""SQL of the indicators service (asyncpg, explicit statements, set-based where it counts)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts.enums import Aggregation, Comparator, IndicatorStatus, Polarity
from suishin.indicators.domain import (
    Cadence,
    Granularity,
    IndicatorSpec,
    Observation,
    ReportingPeriod,
    TargetSpec,
)
from suishin.indicators.evaluation import Evaluation, EvaluationFigures
from suishin.kit.db import contains_pattern

INDICATOR_COLUMNS = """
    i.id, i.tenant, i.key, i.parent_id, i.sub_series_key, i.title, i.description, i.unit,
    i.unit_aliases, i.polarity, i.aggregation, i.granularity, i.cadence, i.report_lag_days,
    i.qualitative, i.milestone, i.tolerance, i.at_risk_margin, i.baseline_value,
    i.baseline_text, i.baseline_period, i.baseline_source, i.plan_id, i.plan_key,
    i.period_start_fy, i.period_end_fy, i.owner_departments, i.origin, i.source, i.notes,
    i.status_version, i.tracked_since, i.updated_at, i.evaluated_from_fy
"""


@dataclass(frozen=True)
class IndicatorRecord:
    """An indicator as stored: its evaluation spec plus what only people read."""

    spec: IndicatorSpec
    parent_id: UUID | None
    sub_series_key: str | None
    description: str | None
    baseline_text: str | None
    baseline_source: str | None
    plan_id: UUID | None
    plan_key: str | None
    owner_departments: tuple[str, ...]
    origin: str
    source: str | None
    notes: list[Any]
    status_version: int
    updated_at: datetime

    @property
    def id(self) -> UUID:
        return self.spec.id

    @property
    def tenant(self) -> str:
        return self.spec.tenant

    @property
    def key(self) -> str:
        return self.spec.key


def _record(row: asyncpg.Record, targets: Sequence[TargetSpec]) -> IndicatorRecord:
    spec = IndicatorSpec(
        id=row["id"],
        tenant=row["tenant"],
        key=row["key"],
        title=row["title"],
        unit=row["unit"],
        polarity=Polarity(row["polarity"]),
        aggregation=Aggregation(row["aggregation"]),
        granularity=Granularity(row["granularity"]),
        cadence=Cadence(row["cadence"]),
        period_start_fy=row["period_start_fy"],
        period_end_fy=row["period_end_fy"],
        targets=tuple(targets),
        qualitative=row["qualitative"],
        milestone=row["milestone"],
        baseline_value=row["baseline_value"],
        baseline_period=row["baseline_period"],
        tolerance=row["tolerance"],
        at_risk_margin=row["at_risk_margin"],
        report_lag_days=row["report_lag_days"],
        unit_aliases=tuple(row["unit_aliases"] or ()),
        tracked_since=row["tracked_since"],
        evaluated_from_fy=row["evaluated_from_fy"],
    )
    return IndicatorRecord(
        spec=spec,
        parent_id=row["parent_id"],
        sub_series_key=row["sub_series_key"],
        description=row["description"],
        baseline_text=row["baseline_text"],
        baseline_source=row["baseline_source"],
        plan_id=row["plan_id"],
        plan_key=row["plan_key"],
        owner_departments=tuple(row["owner_departments"] or ()),
        origin=row["origin"],
        source=row["source"],
        notes=list(row["notes"] or []),
        status_version=row["status_version"],
        updated_at=row["updated_at"],
    )


def target_of(row: asyncpg.Record) -> TargetSpec:
    return TargetSpec(
        fiscal_year=row["fiscal_year"],
        value=row["value"],
        comparator=Comparator(row["comparator"]) if row["comparator"] else None,
        text=row["text"],
        from_fiscal_year=row["from_fiscal_year"],
        printed=row["printed"],
    )


async def with_targets(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> dict[UUID, IndicatorRecord]:
    if not rows:
        return {}
    targets = await current_targets(conn, [r["id"] for r in rows])
    return {r["id"]: _record(r, targets.get(r["id"], [])) for r in rows}


async def load_indicators(
    conn: asyncpg.Connection, ids: Iterable[UUID], *, lock: bool = False
) -> dict[UUID, IndicatorRecord]:
    """Indicators by id; ``lock`` serialises status updates of the same indicators."""
    suffix = "order by i.id for no key update" if lock else ""
    rows = await conn.fetch(
        f"select {INDICATOR_COLUMNS} from indicators i where i.id = any($1::uuid[]) {suffix}",
        list(set(ids)),
    )
    return await with_targets(conn, rows)


async def load_indicators_by_key(
    conn: asyncpg.Connection, keys: Iterable[tuple[str, str]], *, lock: bool = False
) -> dict[tuple[str, str], IndicatorRecord]:
    pairs = list(set(keys))
    suffix = "order by i.id for no key update" if lock else ""
    rows = await conn.fetch(
        f"""select {INDICATOR_COLUMNS} from indicators i
            join unnest($1::text[], $2::text[]) as k(tenant, key)
              on i.tenant = k.tenant and i.key = k.key {suffix}""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    records = await with_targets(conn, rows)
    return {(r.tenant, r.key): r for r in records.values()}


async def tenants_having_keys(conn: asyncpg.Connection, keys: Iterable[str]) -> dict[str, set[str]]:
    """For keys a tenant does not know: which other tenants define them."""
    rows = await conn.fetch(
        "select key, tenant from indicators where key = any($1::text[])", list(set(keys))
    )
    out: dict[str, set[str]] = {}
    for r in rows:
        out.setdefault(r["key"], set()).add(r["tenant"])
    return out


async def known_tenants(conn: asyncpg.Connection, tenants: Iterable[str]) -> set[str]:
    """Which of ``tenants`` have indicators here."""
    rows = await conn.fetch(
        """select t from unnest($1::text[]) as t
           where exists (select 1 from indicators i where i.tenant = t)""",
        list(set(tenants)),
    )
    return {r[0] for r in rows}


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


# --- measurements ------------------------------------------------------------------------------


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


async def write_measurements(conn: asyncpg.Connection, rows: Sequence[NewMeasurement]) -> list[int]:
    """Store new reports (their idempotency keys are unused) and decide, per indicator and
    period, which value is current; return the new rows' ids in order.

    The current value is decided by one order, ``(is_correction, occurred_at, received)``: a
    correction outranks every ordinary report whatever its ``occurred_at``; among corrections,
    and among ordinary reports, the one recorded last wins (greatest ``occurred_at``; on a tie
    the one received last). Every other value that competed with it (the previous current
    one, earlier values of the same batch, a late report) is kept, not current, and points to
    the value current when it was superseded. Each row is written once: ids are drawn from the
    sequence first so the rows can be inserted with their final state, and only the previous
    current values are updated. Two consumers racing on one idempotency key make the insert
    fail on the unique key; the batch is then retried event by event and the loser finds the
    stored report (a duplicate).
    """
    if not rows:
        return []
    pairs = list({(r.indicator_id, r.period.label) for r in rows})
    current = await conn.fetch(
        """select m.id, m.indicator_id, m.period, m.is_correction, m.occurred_at
           from measurements m
           join unnest($1::uuid[], $2::text[]) as a(indicator_id, period)
             on m.indicator_id = a.indicator_id and m.period = a.period
           where m.is_current""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    ids: list[int] = [
        r[0]
        for r in await conn.fetch(
            "select nextval(pg_get_serial_sequence('measurements', 'id')) "
            "from generate_series(1, $1)",
            len(rows),
        )
    ]
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
    await conn.execute(
        """insert into measurements (id, tenant, indicator_id, period, fiscal_year, period_end,
               value, text_value, unit, source, idempotency_key, reported_by, is_correction,
               comment, occurred_at, event_id, via, is_current, superseded_by, superseded_at)
           overriding system value
           select i, t, ind, p, fy, pe, v, tv, u, src, k, rb, c, cm, oa, e, via,
                  sb is null, sb, case when sb is null then null else clock_timestamp() end
           from unnest($1::bigint[], $2::text[], $3::uuid[], $4::text[], $5::int[], $6::date[],
               $7::numeric[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
               $13::bool[], $14::text[], $15::timestamptz[], $16::uuid[], $17::text[],
               $18::bigint[])
             as x(i, t, ind, p, fy, pe, v, tv, u, src, k, rb, c, cm, oa, e, via, sb)""",
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
    )
    # after the insert: the winners they point to must exist (foreign key)
    if beaten:
        await conn.execute(
            """update measurements m
               set is_current = false, superseded_by = v.winner, superseded_at = clock_timestamp()
               from unnest($1::bigint[], $2::bigint[]) as v(id, winner) where m.id = v.id""",
            [b[0] for b in beaten],
            [b[1] for b in beaten],
        )
    return ids


async def measurements_by_key(
    conn: asyncpg.Connection, keys: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], asyncpg.Record]:
    if not keys:
        return {}
    rows = await conn.fetch(
        """select m.* from measurements m
           join unnest($1::text[], $2::text[]) as k(tenant, idempotency_key)
             on m.tenant = k.tenant and m.idempotency_key = k.idempotency_key""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {(r["tenant"], r["idempotency_key"]): r for r in rows}


async def current_observations(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[UUID, list[Observation]]:
    rows = await conn.fetch(
        """select indicator_id, period, value, text_value from measurements
           where is_current and indicator_id = any($1::uuid[])""",
        list(indicator_ids),
    )
    out: dict[UUID, list[Observation]] = {}
    periods: dict[str, ReportingPeriod] = {}
    for r in rows:
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


# --- statuses ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredStatus:
    status: IndicatorStatus
    rule: str
    reason: str
    figures: dict[str, Any]

    def same_as(self, evaluation: Evaluation) -> bool:
        return (
            self.status == evaluation.status
            and self.rule == evaluation.rule
            and self.reason == evaluation.reason
            and self.figures == evaluation.figures.to_json()
        )


async def load_statuses(
    conn: asyncpg.Connection, indicator_ids: Sequence[UUID]
) -> dict[tuple[UUID, int], StoredStatus]:
    rows = await conn.fetch(
        """select indicator_id, fiscal_year, status, rule, reason, figures
           from indicator_status where indicator_id = any($1::uuid[])""",
        list(indicator_ids),
    )
    return {
        (r["indicator_id"], r["fiscal_year"]): StoredStatus(
            IndicatorStatus(r["status"]), r["rule"], r["reason"], r["figures"]
        )
        for r in rows
    }


async def write_statuses(
    conn: asyncpg.Connection, rows: Sequence[tuple[UUID, Evaluation]], evaluated_at: datetime
) -> None:
    if not rows:
        return
    await conn.execute(
        """insert into indicator_status (indicator_id, fiscal_year, status, rule, reason, figures,
               evaluated_at, changed_at)
           select i, f, s, r, re, fg::jsonb, $7, $7
           from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
                as t(i, f, s, r, re, fg)
           on conflict (indicator_id, fiscal_year) do update
           set status = excluded.status, rule = excluded.rule, reason = excluded.reason,
               figures = excluded.figures, evaluated_at = excluded.evaluated_at,
               changed_at = case when indicator_status.status = excluded.status
                                 then indicator_status.changed_at
                                 else excluded.changed_at end""",
        [i for i, _ in rows],
        [e.fiscal_year for _, e in rows],
        [e.status.value for _, e in rows],
        [e.rule for _, e in rows],
        [e.reason for _, e in rows],
        [json.dumps(e.figures.to_json(), ensure_ascii=False) for _, e in rows],
        evaluated_at,
    )


async def record_status_changes(
    conn: asyncpg.Connection,
    changes: Sequence[tuple[UUID, Evaluation, IndicatorStatus | None, UUID]],
    versions: Mapping[UUID, int],
) -> None:
    """History rows for announced changes and the indicators' new aggregate versions."""
    if not changes:
        return
    await conn.execute(
        """insert into status_history (indicator_id, fiscal_year, from_status, to_status, rule,
               reason, figures, event_id)
           select i, f, fs, ts, r, re, fg::jsonb, e
           from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::uuid[]) as t(i, f, fs, ts, r, re, fg, e)""",
        [c[0] for c in changes],
        [c[1].fiscal_year for c in changes],
        [c[2].value if c[2] else None for c in changes],
        [c[1].status.value for c in changes],
        [c[1].rule for c in changes],
        [c[1].reason for c in changes],
        [json.dumps(c[1].figures.to_json(), ensure_ascii=False) for c in changes],
        [c[3] for c in changes],
    )
    await conn.execute(
        """update indicators i set status_version = v.version
           from unnest($1::uuid[], $2::bigint[]) as v(id, version) where i.id = v.id""",
        list(versions),
        list(versions.values()),
    )


@dataclass(frozen=True)
class Links:
    node_ids: list[UUID]
    plan_ids: list[UUID]


async def load_links(conn: asyncpg.Connection, indicator_ids: Sequence[UUID]) -> dict[UUID, Links]:
    rows = await conn.fetch(
        """select indicator_id, node_id, plan_id, node_path from indicator_links
           where indicator_id = any($1::uuid[]) order by indicator_id, node_path, node_id""",
        list(indicator_ids),
    )
    out: dict[UUID, Links] = {}
    for r in rows:
        links = out.setdefault(r["indicator_id"], Links([], []))
        links.node_ids.append(r["node_id"])
        if r["plan_id"] is not None and r["plan_id"] not in links.plan_ids:
            links.plan_ids.append(r["plan_id"])
    return out


def figures_of(data: dict[str, Any] | None) -> EvaluationFigures:
    return EvaluationFigures.from_json(data)


# --- listing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IndicatorFilter:
    status: IndicatorStatus | None = None
    department: str | None = None
    measure_id: UUID | None = None
    plan_id: UUID | None = None
    fiscal_year: int | None = None
    """The year ``status`` refers to; default: each indicator's headline year."""
    search: str | None = None
    top_level_only: bool = False


HEADLINE_YEAR_SQL = (
    "least(i.period_end_fy, greatest(coalesce(i.evaluated_from_fy, i.period_start_fy), $2::int))"
)
"""The year an indicator's headline status is for: the current fiscal year, clamped to its
plan period (a finished plan shows its last year)."""


async def list_indicators(
    conn: asyncpg.Connection,
    tenant: str,
    flt: IndicatorFilter,
    *,
    current_fy: int,
    after_key: str | None,
    limit: int,
) -> tuple[list[IndicatorRecord], int]:
    """One page of a tenant's indicators ordered by key, and the total matching the filter."""
    where = f"""
        from indicators i
        left join indicator_status s
          on s.indicator_id = i.id
         and s.fiscal_year = coalesce($3::int, {HEADLINE_YEAR_SQL})
        where i.tenant = $1
          and ($4::text is null or coalesce(s.status, 'no_data') = $4)
          and ($5::text is null or i.owner_departments @> array[$5::text])
          and ($6::uuid is null or exists (select 1 from indicator_links l
                                           where l.indicator_id = i.id and l.node_id = $6))
          and ($7::uuid is null or i.plan_id = $7)
          and ($8::text is null or i.title ilike $8 or i.key ilike $8)
          and (not $9 or i.parent_id is null)
    """
    args = [
        tenant,
        current_fy,
        flt.fiscal_year,
        flt.status.value if flt.status else None,
        flt.department,
        flt.measure_id,
        flt.plan_id,
        None if flt.search is None else contains_pattern(flt.search),
        flt.top_level_only,
    ]
    rows = await conn.fetch(
        f"select {INDICATOR_COLUMNS} {where} and ($10::text is null or i.key > $10) "
        "order by i.key limit $11",
        *args,
        after_key,
        limit,
    )
    total = await conn.fetchval(f"select count(*) {where}", *args)
    records = await with_targets(conn, rows)
    return [records[r["id"]] for r in rows], int(total)
