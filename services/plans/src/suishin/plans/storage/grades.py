"""Grades: indicator statuses in, machine/override/effective grades, published grades."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.plans.storage.db import Conn, Executor


async def grades_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from grades where measure_id = any($1::uuid[])
           order by measure_id, fiscal_year""",
        measure_ids,
    )


async def published_grades_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from published_grades where measure_id = any($1::uuid[])
           order by measure_id, position""",
        measure_ids,
    )


async def indicator_statuses_of(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select * from indicator_statuses where node_id = any($1::uuid[])
           order by node_id, fiscal_year, indicator_key""",
        measure_ids,
    )


async def upsert_indicator_statuses(
    conn: Conn, rows: Sequence[tuple[Any, ...]]
) -> list[tuple[UUID, int]]:
    """Write the newest status per (node, indicator, fiscal year) in one statement; a row older
    than the stored one (higher aggregate version, or without versions a later ``occurred_at``)
    or of another tenant changes nothing. Returns the (node, year) pairs actually written.

    A row is (node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
    quantitative, exceeded, figures JSON text, event_id, aggregate_version, occurred_at,
    exceeded_bar, graded_met, graded_note)."""
    if not rows:
        return []
    columns = list(zip(*rows, strict=True))
    applied = await conn.fetch(
        """insert into indicator_statuses as s
               (node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
                quantitative, exceeded, figures, event_id, aggregate_version, occurred_at,
                exceeded_bar, graded_met, graded_note)
           select node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
                  quantitative, exceeded, figures::jsonb, event_id, aggregate_version,
                  occurred_at, exceeded_bar, graded_met, graded_note
           from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::bool[], $9::bool[], $10::text[], $11::uuid[],
                       $12::int[], $13::timestamptz[], $14::text[], $15::bool[], $16::text[])
                as t(node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
                     quantitative, exceeded, figures, event_id, aggregate_version, occurred_at,
                     exceeded_bar, graded_met, graded_note)
           on conflict (node_id, indicator_id, fiscal_year) do update set
               status = excluded.status, quantitative = excluded.quantitative,
               exceeded = excluded.exceeded, figures = excluded.figures,
               exceeded_bar = excluded.exceeded_bar, graded_met = excluded.graded_met,
               graded_note = excluded.graded_note,
               indicator_key = excluded.indicator_key, title = excluded.title,
               event_id = excluded.event_id, aggregate_version = excluded.aggregate_version,
               occurred_at = excluded.occurred_at, updated_at = now()
           where s.tenant = excluded.tenant and (
               case when s.aggregate_version is not null
                         and excluded.aggregate_version is not null
                    then excluded.aggregate_version > s.aggregate_version
                    else excluded.occurred_at > s.occurred_at end)
           returning node_id, fiscal_year""",
        *[list(c) for c in columns],
    )
    return [(r["node_id"], r["fiscal_year"]) for r in applied]


async def measures_for_nodes(
    conn: Conn, node_years: Iterable[tuple[UUID, int]]
) -> set[tuple[UUID, int]]:
    """The measure graded for each node: itself, or the nearest measure above a sub-item."""
    pairs = list(node_years)
    if not pairs:
        return set()
    rows = await conn.fetch(
        """select distinct on (t.node_id, t.fiscal_year) m.id as measure_id, t.fiscal_year
           from unnest($1::uuid[], $2::int[]) as t(node_id, fiscal_year)
           join nodes n on n.id = t.node_id
           join nodes m on m.plan_id = n.plan_id and m.kind = 'measure'
                and (m.id = n.id or starts_with(n.path, m.path || '/'))
           order by t.node_id, t.fiscal_year, m.depth desc""",
        [p[0] for p in pairs],
        [p[1] for p in pairs],
    )
    return {(r["measure_id"], r["fiscal_year"]) for r in rows}


async def graded_node_years(conn: Conn, plan_id: UUID) -> list[tuple[UUID, int]]:
    """(node, year) pairs of a plan that have indicator statuses."""
    rows = await conn.fetch(
        """select distinct s.node_id, s.fiscal_year from indicator_statuses s
           join nodes n on n.id = s.node_id where n.plan_id = $1""",
        plan_id,
    )
    return [(r["node_id"], r["fiscal_year"]) for r in rows]


async def latest_indicator_statuses(
    conn: Conn, measure_years: Sequence[tuple[asyncpg.Record, int]]
) -> dict[tuple[UUID, int], list[asyncpg.Record]]:
    """For each (measure, year): the latest status of every indicator linked to the measure or
    one of its sub-items, by indicator id. One query for all of them."""
    rows = await conn.fetch(
        """select t.measure_id, t.fiscal_year, s.*
           from unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[]) with ordinality
                as t(measure_id, plan_id, path, fiscal_year, ord)
           cross join lateral (
               select distinct on (s.indicator_id) s.indicator_id, s.status, s.quantitative,
                      s.exceeded, s.exceeded_bar, s.title, s.graded_met, s.graded_note
               from indicator_statuses s join nodes n on n.id = s.node_id
               where n.plan_id = t.plan_id
                     and (n.id = t.measure_id or starts_with(n.path, t.path || '/'))
                     and s.fiscal_year = t.fiscal_year
               order by s.indicator_id, s.occurred_at desc
           ) s
           order by t.ord, s.indicator_id""",
        [m["id"] for m, _ in measure_years],
        [m["plan_id"] for m, _ in measure_years],
        [m["path"] for m, _ in measure_years],
        [year for _, year in measure_years],
    )
    out: dict[tuple[UUID, int], list[asyncpg.Record]] = {
        (m["id"], year): [] for m, year in measure_years
    }
    for r in rows:
        out[(r["measure_id"], r["fiscal_year"])].append(r)
    return out


async def grades_for_update(
    conn: Conn, pairs: Sequence[tuple[UUID, int]]
) -> dict[tuple[UUID, int], asyncpg.Record]:
    """What the grade of each (measure, year) is settled from, for every pair: its grades row
    (``has_row``; the machine, override and effective grades, null without a row), locked in
    the order of ``pairs`` (every regrade takes them in (measure, year) order), and the grade
    the ward published that year (``published_grade``)."""
    rows = await conn.fetch(
        """select t.measure_id, t.fiscal_year, g.measure_id is not null as has_row,
                  g.machine_grade, g.machine_reason, g.override_grade, g.effective_grade,
                  (select p.grade from published_grades p
                   where p.measure_id = t.measure_id and p.fiscal_year = t.fiscal_year)
                  as published_grade
           from unnest($1::uuid[], $2::int[]) with ordinality as t(measure_id, fiscal_year, ord)
           left join lateral (
               select g.measure_id, g.machine_grade, g.machine_reason, g.override_grade,
                      g.effective_grade
               from grades g
               where g.measure_id = t.measure_id and g.fiscal_year = t.fiscal_year
               for update
           ) g on true
           order by t.ord""",
        [m for m, _ in pairs],
        [y for _, y in pairs],
    )
    return {(r["measure_id"], r["fiscal_year"]): r for r in rows}


async def grade_for_update(conn: Conn, measure_id: UUID, year: int) -> asyncpg.Record:
    return (await grades_for_update(conn, [(measure_id, year)]))[(measure_id, year)]


async def set_machine_reason(conn: Conn, measure_id: UUID, year: int, reason: str | None) -> None:
    await conn.execute(
        """update grades set machine_reason = $3
           where measure_id = $1 and fiscal_year = $2""",
        measure_id,
        year,
        reason,
    )


async def write_machine_grades(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Upsert the machine grade, its reason and the effective grade of many (measure, year) in
    one statement. A row is (measure_id, fiscal_year, tenant, machine_grade, machine_reason,
    effective_grade)."""
    if not rows:
        return
    columns = [list(c) for c in zip(*rows, strict=True)]
    await conn.execute(
        """insert into grades (measure_id, fiscal_year, tenant, machine_grade, machine_reason,
                               machine_at, effective_grade)
           select t.measure_id, t.fiscal_year, t.tenant, t.machine_grade, t.machine_reason,
                  now(), t.effective_grade
           from unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
                as t(measure_id, fiscal_year, tenant, machine_grade, machine_reason,
                     effective_grade)
           on conflict (measure_id, fiscal_year) do update set
               machine_grade = excluded.machine_grade,
               machine_reason = excluded.machine_reason, machine_at = now(),
               effective_grade = excluded.effective_grade""",
        *columns,
    )


async def upsert_override(
    conn: Conn,
    measure_id: UUID,
    year: int,
    tenant: str,
    grade: str | None,
    reason: str,
    by: str,
    at: datetime,
    effective: str | None,
) -> None:
    """Set (or clear) the override of (measure, year) with the effective grade it gives."""
    await conn.execute(
        """insert into grades (measure_id, fiscal_year, tenant, override_grade, override_reason,
                               override_by, override_at, effective_grade)
           values ($1, $2, $3, $4, $5, $6, $7, $8)
           on conflict (measure_id, fiscal_year) do update set
               override_grade = excluded.override_grade,
               override_reason = excluded.override_reason,
               override_by = excluded.override_by, override_at = excluded.override_at,
               effective_grade = excluded.effective_grade""",
        measure_id,
        year,
        tenant,
        grade,
        reason,
        by,
        at,
        effective,
    )


async def effective_grades_of(
    db: Executor, measure_ids: Sequence[UUID]
) -> dict[UUID, dict[int, str | None]]:
    """Each measure's effective grade by fiscal year (measures without grades are left out)."""
    rows = await db.fetch(
        """select measure_id, fiscal_year, effective_grade from grades
           where measure_id = any($1::uuid[])""",
        measure_ids,
    )
    out: dict[UUID, dict[int, str | None]] = {}
    for r in rows:
        out.setdefault(r["measure_id"], {})[r["fiscal_year"]] = r["effective_grade"]
    return out


async def resettle_effective(conn: Conn, measure_id: UUID, year: int) -> None:
    """Recompute ``effective_grade`` of (measure, year) in SQL (override, else published, else
    machine), creating the row if needed and dropping it when it holds nothing."""
    await conn.execute(
        """insert into grades (measure_id, fiscal_year, tenant)
           select id, $2, tenant from nodes where id = $1
           on conflict do nothing""",
        measure_id,
        year,
    )
    await conn.execute(
        """update grades g set effective_grade = coalesce(
               g.override_grade,
               (select p.grade from published_grades p
                where p.measure_id = g.measure_id and p.fiscal_year = g.fiscal_year),
               g.machine_grade)
           where g.measure_id = $1 and g.fiscal_year = $2""",
        measure_id,
        year,
    )
    await conn.execute(
        """delete from grades where measure_id = $1 and fiscal_year = $2
           and machine_grade is null and override_grade is null
           and effective_grade is null""",
        measure_id,
        year,
    )


async def published_grades_of_plan(db: Executor, plan_id: UUID) -> list[asyncpg.Record]:
    """The grades the ward published for a plan's measures, in printed order, with the path."""
    return await db.fetch(
        """select g.*, n.path from published_grades g join nodes n on n.id = g.measure_id
           where n.plan_id = $1 order by g.position""",
        plan_id,
    )


async def published_grade_rows(conn: Conn, plan_id: UUID) -> list[tuple[Any, ...]]:
    """(measure, position, year, grade, printed, source, notes) of a plan, in printed order."""
    rows = await conn.fetch(
        """select g.measure_id, g.position, g.fiscal_year, g.grade, g.printed, g.source,
                  g.notes
           from published_grades g join nodes n on n.id = g.measure_id
           where n.plan_id = $1 order by g.position""",
        plan_id,
    )
    return [tuple(r) for r in rows]


async def replace_published_grades(
    conn: Conn, plan_id: UUID, rows: Sequence[tuple[Any, ...]]
) -> None:
    """Replace a plan's published grades by ``rows`` (as :func:`published_grade_rows`)."""
    await conn.execute(
        """delete from published_grades where measure_id in
           (select id from nodes where plan_id = $1)""",
        plan_id,
    )
    await conn.executemany(
        """insert into published_grades (measure_id, position, fiscal_year, grade, printed,
                                         source, notes)
           values ($1, $2, $3, $4, $5, $6, $7)""",
        rows,
    )


async def measure_years(conn: Conn, measure: asyncpg.Record) -> set[int]:
    """The years a measure has a grade or an indicator status for, and the current fiscal year
    (Japan time; at the latest the plan's last year)."""
    rows = await conn.fetch(
        """select fiscal_year from grades where measure_id = $1
           union
           select s.fiscal_year from indicator_statuses s join nodes n on n.id = s.node_id
           where n.plan_id = $2 and (n.id = $1 or starts_with(n.path, $3 || '/'))
           union
           select least(extract(year from (now() at time zone 'Asia/Tokyo')
                                          - interval '3 months')::int, p.fiscal_year_to)
           from plans p where p.id = $2""",
        measure["id"],
        measure["plan_id"],
        measure["path"],
    )
    return {r["fiscal_year"] for r in rows}
