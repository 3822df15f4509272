"""SQL of the indicators themselves: reading them (with their current targets), locking them,
writing a definition, listing a tenant's indicators."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.contracts import ids
from suishin.contracts.enums import Aggregation, IndicatorStatus, Polarity
from suishin.indicators.domain.definitions import IndicatorDefinition
from suishin.indicators.domain.model import Cadence, Granularity, IndicatorSpec, TargetSpec
from suishin.indicators.storage.targets import current_targets, target_of_json
from suishin.kit.db import contains_pattern

INDICATOR_COLUMNS = """
    i.id, i.tenant, i.key, i.parent_id, i.sub_series_key, i.title, i.description, i.unit,
    i.unit_aliases, i.polarity, i.aggregation, i.granularity, i.cadence, i.report_lag_days,
    i.qualitative, i.milestone, i.tolerance, i.at_risk_margin, i.baseline_value,
    i.baseline_text, i.baseline_period, i.baseline_source, i.plan_id, i.plan_key,
    i.period_start_fy, i.period_end_fy, i.owner_departments, i.origin, i.source, i.notes,
    i.status_version, i.tracked_since, i.updated_at, i.evaluated_from_fy
"""


# The current targets of the row's indicator, for the reads on the ingest path (one statement
# instead of two per batch); the other reads, which list indicators per node, use with_targets.
_TARGETS_COLUMN = """
    (select coalesce(json_agg(json_build_object('fiscal_year', t.fiscal_year,
                                                'from_fiscal_year', t.from_fiscal_year,
                                                'value', t.value::text,
                                                'comparator', t.comparator, 'text', t.text,
                                                'printed', t.printed)
                              order by t.fiscal_year, t.from_fiscal_year nulls first),
                     '[]'::json)
     from targets t where t.indicator_id = i.id and t.superseded_at is null) as targets
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


async def with_targets(
    conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]
) -> dict[UUID, IndicatorRecord]:
    if not rows:
        return {}
    targets = await current_targets(conn, [r["id"] for r in rows])
    return {r["id"]: _record(r, targets.get(r["id"], [])) for r in rows}


def _with_their_targets(rows: Sequence[asyncpg.Record]) -> dict[UUID, IndicatorRecord]:
    """Records of rows read with ``_TARGETS_COLUMN``."""
    return {r["id"]: _record(r, [target_of_json(t) for t in r["targets"]]) for r in rows}


async def load_indicators(
    conn: asyncpg.Connection, ids: Iterable[UUID], *, lock: bool = False
) -> dict[UUID, IndicatorRecord]:
    """Indicators by id; ``lock`` serialises status updates of the same indicators."""
    suffix = "order by i.id for no key update" if lock else ""
    rows = await conn.fetch(
        f"""select {INDICATOR_COLUMNS}, {_TARGETS_COLUMN} from indicators i
            where i.id = any($1::uuid[]) {suffix}""",
        list(set(ids)),
    )
    return _with_their_targets(rows)


async def load_indicators_by_key(
    conn: asyncpg.Connection, keys: Iterable[tuple[str, str]], *, lock: bool = False
) -> dict[tuple[str, str], IndicatorRecord]:
    pairs = list(set(keys))
    suffix = "order by i.id for no key update" if lock else ""
    rows = await conn.fetch(
        f"""select {INDICATOR_COLUMNS}, {_TARGETS_COLUMN} from indicators i
            join unnest($1::text[], $2::text[]) as k(tenant, key)
              on i.tenant = k.tenant and i.key = k.key {suffix}""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return {(r.tenant, r.key): r for r in _with_their_targets(rows).values()}


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


async def lock(conn: asyncpg.Connection, ids: Sequence[UUID]) -> None:
    """Lock the stored indicators among ``ids`` in id order (the order every writer takes)."""
    await conn.execute(
        "select 1 from indicators where id = any($1::uuid[]) order by id for no key update",
        list(ids),
    )


_UPSERT = """
insert into indicators as i (id, tenant, key, parent_id, sub_series_key, title, description, unit,
    unit_aliases, polarity, aggregation, granularity, cadence, report_lag_days, qualitative,
    milestone, tolerance, at_risk_margin, baseline_value, baseline_text, baseline_period,
    baseline_source, plan_id, plan_key, period_start_fy, period_end_fy, owner_departments, origin,
    source, notes, tracked_since, updated_at, evaluated_from_fy, plan_file_entry, plan_position)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19,
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30::jsonb, $31, $31, $32,
    $33::jsonb, $34)
on conflict (id) do update set
    parent_id = excluded.parent_id, sub_series_key = excluded.sub_series_key,
    title = excluded.title, description = excluded.description, unit = excluded.unit,
    unit_aliases = excluded.unit_aliases, polarity = excluded.polarity,
    aggregation = excluded.aggregation, granularity = excluded.granularity,
    cadence = excluded.cadence, report_lag_days = excluded.report_lag_days,
    qualitative = excluded.qualitative, milestone = excluded.milestone,
    tolerance = excluded.tolerance, at_risk_margin = excluded.at_risk_margin,
    baseline_value = excluded.baseline_value, baseline_text = excluded.baseline_text,
    baseline_period = excluded.baseline_period, baseline_source = excluded.baseline_source,
    plan_id = excluded.plan_id, plan_key = excluded.plan_key,
    period_start_fy = excluded.period_start_fy, period_end_fy = excluded.period_end_fy,
    owner_departments = excluded.owner_departments, origin = excluded.origin,
    source = excluded.source, notes = excluded.notes, updated_at = excluded.updated_at,
    evaluated_from_fy = excluded.evaluated_from_fy, plan_file_entry = excluded.plan_file_entry,
    plan_position = excluded.plan_position
where (i.parent_id, i.sub_series_key, i.title, i.description, i.unit, i.unit_aliases,
       i.polarity, i.aggregation, i.granularity, i.cadence, i.report_lag_days, i.qualitative,
       i.milestone, i.tolerance, i.at_risk_margin, i.baseline_value, i.baseline_text,
       i.baseline_period, i.baseline_source, i.plan_id, i.plan_key, i.period_start_fy,
       i.period_end_fy, i.owner_departments, i.origin, i.source, i.notes, i.evaluated_from_fy,
       i.plan_file_entry, i.plan_position)
   is distinct from
      (excluded.parent_id, excluded.sub_series_key, excluded.title, excluded.description,
       excluded.unit, excluded.unit_aliases, excluded.polarity, excluded.aggregation,
       excluded.granularity, excluded.cadence, excluded.report_lag_days, excluded.qualitative,
       excluded.milestone, excluded.tolerance, excluded.at_risk_margin, excluded.baseline_value,
       excluded.baseline_text, excluded.baseline_period, excluded.baseline_source,
       excluded.plan_id, excluded.plan_key, excluded.period_start_fy, excluded.period_end_fy,
       excluded.owner_departments, excluded.origin, excluded.source, excluded.notes,
       excluded.evaluated_from_fy, excluded.plan_file_entry, excluded.plan_position)
returning (xmax = 0) as created
"""


async def upsert(conn: asyncpg.Connection, d: IndicatorDefinition, now: datetime) -> bool | None:
    """Write one definition: True when created, False when changed, None when it was stored
    as it is."""
    parent_id = ids.indicator_id(d.tenant, d.parent_key) if d.parent_key else None
    row = await conn.fetchrow(
        _UPSERT,
        d.id,
        d.tenant,
        d.key,
        parent_id,
        d.sub_series_key,
        d.title,
        d.description,
        d.unit,
        list(d.unit_aliases),
        d.polarity.value,
        d.aggregation.value,
        d.granularity.value,
        d.cadence.value,
        d.report_lag_days,
        d.qualitative,
        d.milestone,
        d.tolerance,
        d.at_risk_margin,
        d.baseline_value,
        d.baseline_text,
        d.baseline_period,
        d.baseline_source,
        d.plan_id,
        d.plan_key,
        d.period_start_fy,
        d.period_end_fy,
        list(d.owner_departments),
        d.origin,
        d.source,
        list(d.notes),
        now,
        d.evaluated_from_fy,
        d.plan_file_entry,
        d.plan_position,
    )
    return None if row is None else bool(row["created"])


async def tenant_indicators(
    conn: asyncpg.Connection, ids: Sequence[UUID], tenant: str
) -> dict[UUID, IndicatorRecord]:
    """The indicators among ``ids`` that belong to ``tenant``."""
    rows = await conn.fetch(
        f"""select {INDICATOR_COLUMNS} from indicators i
            where i.id = any($1::uuid[]) and i.tenant = $2""",
        list(ids),
        tenant,
    )
    return await with_targets(conn, rows)


async def rows_of_nodes(
    conn: asyncpg.Connection, node_ids: Sequence[UUID], tenant: str
) -> list[asyncpg.Record]:
    """Rows (``node_id`` and the indicator's columns, see :func:`with_targets`) of the indicators
    linked to each node or to a node below it (a measure's workload items), by node and key."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""select l.node_id, {INDICATOR_COLUMNS}
            from (select node_id, indicator_id from indicator_links
                  where node_id = any($1::uuid[]) and tenant = $2
                  union
                  select ancestor_id, indicator_id from indicator_link_ancestors
                  where ancestor_id = any($1::uuid[]) and tenant = $2) l
            join indicators i on i.id = l.indicator_id
            where i.tenant = $2
            order by l.node_id, i.key""",
        list(node_ids),
        tenant,
    )
    return rows


async def rows_linked_to(
    conn: asyncpg.Connection, node_ids: Sequence[UUID], tenant: str
) -> list[asyncpg.Record]:
    """Like :func:`rows_of_nodes`, but only the indicators attached to each node itself (a
    goal's own indicators, not those of the measures below it)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""select l.node_id, {INDICATOR_COLUMNS}
            from indicator_links l
            join indicators i on i.id = l.indicator_id
            where l.node_id = any($1::uuid[]) and l.tenant = $2 and i.tenant = $2
            order by l.node_id, i.key""",
        list(node_ids),
        tenant,
    )
    return rows


async def sub_series(
    conn: asyncpg.Connection, parent_ids: Sequence[UUID], tenant: str
) -> dict[UUID, list[IndicatorRecord]]:
    """The sub-series of each parent, by key."""
    rows = await conn.fetch(
        f"""select {INDICATOR_COLUMNS} from indicators i
            where i.parent_id = any($1::uuid[]) and i.tenant = $2 order by i.key""",
        list(parent_ids),
        tenant,
    )
    records = await with_targets(conn, rows)
    out: dict[UUID, list[IndicatorRecord]] = {}
    for r in rows:
        out.setdefault(r["parent_id"], []).append(records[r["id"]])
    return out


async def due_for_sweep(
    conn: asyncpg.Connection, *, min_end_fy: int, after: UUID | None, limit: int
) -> list[UUID]:
    """Ids of indicators with a reporting cadence whose plan period ends in ``min_end_fy`` or
    later, in id order after ``after``."""
    rows = await conn.fetch(
        """select id from indicators
           where cadence <> 'none' and period_end_fy >= $1
             and ($2::uuid is null or id > $2)
           order by id limit $3""",
        min_end_fy,
        after,
        limit,
    )
    return [r["id"] for r in rows]


async def keys_of_plan_except(
    conn: asyncpg.Connection, tenant: str, plan_id: UUID, keys: Sequence[str]
) -> list[str]:
    """Keys of the plan's stored indicators that are not among ``keys``, in order."""
    rows = await conn.fetch(
        """select key from indicators where tenant = $1 and plan_id = $2
           and key <> all($3::text[]) order by key""",
        tenant,
        plan_id,
        list(keys),
    )
    return [r["key"] for r in rows]


async def plan_rows(db: Any, tenant: str, plan_key: str) -> list[asyncpg.Record]:
    """Whole rows of a plan's indicators in plan-file order (``db``: connection or pool)."""
    rows: list[asyncpg.Record] = await db.fetch(
        """select * from indicators where tenant = $1 and plan_key = $2
           order by plan_position nulls last, key""",
        tenant,
        plan_key,
    )
    return rows


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
