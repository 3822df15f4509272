"""Yearly evaluation with storage: indicator statuses in, machine grades and overrides out.

The machine grade of a measure for a fiscal year is recomputed from the latest status of every
indicator linked to the measure or to one of its sub-items (事業量項目). The grade that counts
(``effective_grade``) is the override, else the grade the ward published (plan file), else the
machine grade. ``measure.evaluated`` is emitted through the outbox whenever the machine or the
effective grade changes, carrying ``is_failing`` and ``consecutive_failing_years``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from suishin.contracts.enums import IndicatorStatus
from suishin.contracts.events import (
    Envelope,
    IndicatorStatusChanged,
    MeasureEvaluated,
    new_event,
)
from suishin.kit import outbox
from suishin.kit.auth import Principal
from suishin.kit.errors import DomainError, NotFound
from suishin.plans import storage
from suishin.plans.domain.grading import (
    GradeScale,
    IndicatorResult,
    consecutive_failing_years,
    machine_grade,
    result_from_event,
)
from suishin.plans.domain.lifecycle import check_may_override
from suishin.plans.domain.tree import require_reason
from suishin.plans.storage import Conn

PRODUCER = "plans"
MACHINE = "machine"


@dataclass(frozen=True)
class StatusOutcome:
    applied: int
    stale: int
    affected: set[tuple[UUID, int]]


async def record_indicator_statuses(
    conn: Conn, events: Sequence[Envelope[IndicatorStatusChanged]]
) -> StatusOutcome:
    """Keep the latest status per (node, indicator, fiscal year); older events are stale.

    An event is stale when the stored row came from an event with a higher aggregate version,
    or (without versions) a later ``occurred_at``. Returns the (measure, year) pairs to regrade.
    One upsert for the whole batch; within the batch only the newest event per key is kept.
    """
    newest: dict[tuple[UUID, UUID, int], Envelope[IndicatorStatusChanged]] = {}
    candidates = 0
    for event in events:
        p = event.payload
        for node_id in dict.fromkeys(p.measure_ids):
            candidates += 1
            key = (node_id, p.indicator_id, p.fiscal_year)
            kept = newest.get(key)
            if kept is None or _newer(event, kept):
                newest[key] = event
    if not newest:
        return StatusOutcome(0, 0, set())
    rows = []
    for (node_id, indicator_id, year), event in newest.items():
        p = event.payload
        result = result_from_event(indicator_id, p.to_status, p.figures)
        rows.append(
            (
                node_id,
                indicator_id,
                year,
                event.tenant,
                p.indicator_key,
                p.title,
                p.to_status.value,
                result.quantitative,
                result.exceeded,
                json.dumps(p.figures.model_dump(mode="json")),
                event.event_id,
                event.aggregate_version,
                event.occurred_at,
            )
        )
    columns = list(zip(*rows, strict=True))
    applied = await conn.fetch(
        """insert into indicator_statuses as s
               (node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
                quantitative, exceeded, figures, event_id, aggregate_version, occurred_at)
           select node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
                  quantitative, exceeded, figures::jsonb, event_id, aggregate_version,
                  occurred_at
           from unnest($1::uuid[], $2::uuid[], $3::int[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::bool[], $9::bool[], $10::text[], $11::uuid[],
                       $12::int[], $13::timestamptz[])
                as t(node_id, indicator_id, fiscal_year, tenant, indicator_key, title, status,
                     quantitative, exceeded, figures, event_id, aggregate_version, occurred_at)
           on conflict (node_id, indicator_id, fiscal_year) do update set
               status = excluded.status, quantitative = excluded.quantitative,
               exceeded = excluded.exceeded, figures = excluded.figures,
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
    touched = {(r["node_id"], r["fiscal_year"]) for r in applied}
    affected = await measures_for_nodes(conn, touched)
    return StatusOutcome(len(applied), candidates - len(applied), affected)


def _newer(a: Envelope[IndicatorStatusChanged], b: Envelope[IndicatorStatusChanged]) -> bool:
    if a.aggregate_version is not None and b.aggregate_version is not None:
        return a.aggregate_version > b.aggregate_version
    return a.occurred_at > b.occurred_at


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


async def indicator_results(
    conn: Conn, measure: asyncpg.Record, year: int
) -> list[IndicatorResult]:
    rows = await conn.fetch(
        """select distinct on (s.indicator_id) s.indicator_id, s.status, s.quantitative,
                  s.exceeded
           from indicator_statuses s join nodes n on n.id = s.node_id
           where n.plan_id = $1 and (n.id = $2 or starts_with(n.path, $3 || '/'))
                 and s.fiscal_year = $4
           order by s.indicator_id, s.occurred_at desc""",
        measure["plan_id"],
        measure["id"],
        measure["path"],
        year,
    )
    return [
        IndicatorResult(
            r["indicator_id"], IndicatorStatus(r["status"]), r["quantitative"], r["exceeded"]
        )
        for r in rows
    ]


async def regrade(
    conn: Conn, pairs: Iterable[tuple[UUID, int]], *, changed_by: str = MACHINE
) -> list[Envelope[MeasureEvaluated]]:
    """Recompute the machine grade of each (measure, year); enqueue and return the events."""
    events: list[Envelope[MeasureEvaluated]] = []
    scales: dict[UUID, GradeScale] = {}
    for measure_id, year in sorted(pairs, key=lambda p: (str(p[0]), p[1])):
        measure = await conn.fetchrow(
            f"select {storage.NODE_COLUMNS} from nodes where id = $1 and kind = 'measure'",
            measure_id,
        )
        if measure is None:
            continue  # the plan is not imported yet; graded at import
        tenant = measure["tenant"]
        scale = scales.get(measure["plan_id"]) or await storage.plan_scale(conn, measure["plan_id"])
        scales[measure["plan_id"]] = scale
        decision = machine_grade(scale, await indicator_results(conn, measure, year))
        current = await conn.fetchrow(
            "select * from grades where measure_id = $1 and fiscal_year = $2 for update",
            measure_id,
            year,
        )
        if current is None and decision.grade is None:
            continue
        old_machine = current["machine_grade"] if current else None
        if current is not None and old_machine == decision.grade:
            if current["machine_reason"] != decision.reason:
                await conn.execute(
                    """update grades set machine_reason = $3
                       where measure_id = $1 and fiscal_year = $2""",
                    measure_id,
                    year,
                    decision.reason,
                )
            continue
        await conn.execute(
            """insert into grades (measure_id, fiscal_year, tenant, machine_grade, machine_reason,
                                   machine_at)
               values ($1, $2, $3, $4, $5, now())
               on conflict (measure_id, fiscal_year) do update set
                   machine_grade = excluded.machine_grade,
                   machine_reason = excluded.machine_reason, machine_at = now()""",
            measure_id,
            year,
            tenant,
            decision.grade,
            decision.reason,
        )
        await conn.execute(
            """insert into grade_history
                   (measure_id, tenant, fiscal_year, kind, previous, grade, reason, changed_by)
               values ($1, $2, $3, 'machine', $4, $5, $6, $7)""",
            measure_id,
            tenant,
            year,
            old_machine,
            decision.grade,
            decision.reason,
            changed_by,
        )
        event = await _settle(conn, measure, year, scale, reason=decision.reason)
        if event is not None:
            events.append(event)
    return events


async def _settle(
    conn: Conn,
    measure: asyncpg.Record,
    year: int,
    scale: GradeScale,
    *,
    reason: str | None,
    is_override: bool = False,
) -> Envelope[MeasureEvaluated] | None:
    """Recompute the effective grade of (measure, year) and announce it."""
    row = await conn.fetchrow(
        """select g.*, (select p.grade from published_grades p
                        where p.measure_id = g.measure_id and p.fiscal_year = g.fiscal_year)
                       as published_grade
           from grades g where g.measure_id = $1 and g.fiscal_year = $2""",
        measure["id"],
        year,
    )
    assert row is not None
    previous = row["effective_grade"]
    effective = row["override_grade"] or row["published_grade"] or row["machine_grade"]
    if effective != previous:
        await conn.execute(
            "update grades set effective_grade = $3 where measure_id = $1 and fiscal_year = $2",
            measure["id"],
            year,
            effective,
        )
    if effective is None:
        return None
    by_year = {
        r["fiscal_year"]: r["effective_grade"]
        for r in await conn.fetch(
            "select fiscal_year, effective_grade from grades where measure_id = $1", measure["id"]
        )
    }
    grade = scale.find(effective)
    departments = [
        r["department_code"]
        for r in await conn.fetch(
            "select department_code from node_owners where node_id = $1 order by position",
            measure["id"],
        )
    ]
    version = await storage.bump_version(conn, measure["id"])
    event = new_event(
        MeasureEvaluated(
            measure_id=measure["id"],
            plan_id=measure["plan_id"],
            code=measure["code"],
            title=measure["title"],
            fiscal_year=year,
            grade=effective,
            grade_label=grade.label if grade else effective,
            machine_grade=row["machine_grade"],
            previous_grade=previous,
            is_override=is_override or row["override_grade"] is not None,
            is_failing=scale.is_failing(effective),
            consecutive_failing_years=consecutive_failing_years(scale, by_year, year),
            reason=reason,
            department_codes=departments,
        ),
        tenant=measure["tenant"],
        aggregate_id=str(measure["id"]),
        aggregate_version=version,
        producer=PRODUCER,
    )
    await outbox.enqueue(conn, event)
    return event


async def override_grade(
    conn: Conn,
    actor: Principal,
    measure_id: UUID,
    fiscal_year: int,
    grade: str | None,
    reason: str | None,
) -> Envelope[MeasureEvaluated] | None:
    """Set (or clear, with ``grade`` None) the human grade of (measure, year) with a reason."""
    check_may_override(actor)
    why = require_reason(reason)
    measure = await conn.fetchrow(
        f"""select {storage.NODE_COLUMNS},
                   (select fiscal_year_from from plans p where p.id = n.plan_id) as fy_from,
                   (select fiscal_year_to from plans p where p.id = n.plan_id) as fy_to
            from nodes n where id = $1 and kind = 'measure' for update""",
        measure_id,
    )
    if measure is None or measure["tenant"] != actor.tenant:
        raise NotFound("施策", "Measure", str(measure_id))
    if not measure["fy_from"] <= fiscal_year <= measure["fy_to"]:
        raise DomainError(
            "FISCAL_YEAR_OUT_OF_PERIOD",
            f"{fiscal_year}年度は計画期間（{measure['fy_from']}〜{measure['fy_to']}年度）の外です",
            f"Fiscal year {fiscal_year} is outside the plan period "
            f"({measure['fy_from']}-{measure['fy_to']})",
            field="fiscalYear",
        )
    scale = await storage.plan_scale(conn, measure["plan_id"])
    code = scale.grade(grade).code if grade is not None else None
    current = await conn.fetchrow(
        "select * from grades where measure_id = $1 and fiscal_year = $2 for update",
        measure_id,
        fiscal_year,
    )
    previous = current["override_grade"] if current else None
    if current is None and code is None:
        raise DomainError(
            "NO_OVERRIDE",
            "取り消す上書き評価がありません",
            "There is no override to clear",
            field="grade",
        )
    if previous == code:
        raise DomainError(
            "GRADE_UNCHANGED",
            "上書き評価は既にその評語です",
            "The override already has this grade",
            field="grade",
        )
    now = datetime.now(UTC)
    await conn.execute(
        """insert into grades (measure_id, fiscal_year, tenant, override_grade, override_reason,
                               override_by, override_at)
           values ($1, $2, $3, $4, $5, $6, $7)
           on conflict (measure_id, fiscal_year) do update set
               override_grade = excluded.override_grade,
               override_reason = excluded.override_reason,
               override_by = excluded.override_by, override_at = excluded.override_at""",
        measure_id,
        fiscal_year,
        measure["tenant"],
        code,
        why,
        actor.subject,
        now,
    )
    await conn.execute(
        """insert into grade_history
               (measure_id, tenant, fiscal_year, kind, previous, grade, reason, changed_by)
           values ($1, $2, $3, 'override', $4, $5, $6, $7)""",
        measure_id,
        measure["tenant"],
        fiscal_year,
        previous,
        code,
        why,
        actor.subject,
    )
    return await _settle(
        conn, measure, fiscal_year, scale, reason=why, is_override=code is not None
    )


async def settle_published(conn: Conn, pairs: Iterable[tuple[UUID, int]]) -> None:
    """After an import changed published grades: keep ``effective_grade`` in step, silently
    (published grades are history the ward already announced)."""
    for measure_id, year in pairs:
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
