"""Progress reports (進捗報告): versions, schedule adherence, evidence, workflow transitions,
deadlines and the deadline sweep's signals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from suishin.plans.storage.db import Conn, Executor

REPORT_COLUMNS = """r.id, r.tenant, r.measure_id, r.plan_id, r.period, r.fiscal_year, r.version,
    r.state, r.results, r.issues, r.direction, r.self_grade, r.grade, r.grade_reason, r.graded_by,
    r.revision, r.source, r.created_by, r.created_at, r.updated_by, r.updated_at, r.submitted_at,
    r.published_at"""


async def measure_for_report(conn: Conn, measure_id: UUID) -> asyncpg.Record | None:
    """The measure, locked (so two writers of its reports queue up), with its plan's period,
    key and state."""
    return await conn.fetchrow(
        """select n.id, n.tenant, n.plan_id, n.code, n.title, n.level, n.kind,
                  p.key as plan_key, p.state as plan_state, p.fiscal_year_from as fy_from,
                  p.fiscal_year_to as fy_to, p.level_labels
           from nodes n join plans p on p.id = n.plan_id
           where n.id = $1 and n.kind = 'measure'
           for update of n""",
        measure_id,
    )


async def current_report_for_update(
    conn: Conn, measure_id: UUID, period: str
) -> asyncpg.Record | None:
    """The highest version of the measure's report for the period, locked."""
    return await conn.fetchrow(
        f"""select {REPORT_COLUMNS} from progress_reports r
            where r.measure_id = $1 and r.period = $2
            order by r.version desc limit 1 for update""",
        measure_id,
        period,
    )


async def report(db: Executor, report_id: UUID) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"select {REPORT_COLUMNS} from progress_reports r where r.id = $1", report_id
    )


async def insert_report(
    conn: Conn,
    *,
    report_id: UUID,
    measure: asyncpg.Record,
    period: str,
    fiscal_year: int,
    version: int,
    results: str,
    issues: str,
    direction: str,
    self_grade: str | None,
    actor: str,
    now: datetime,
    state: str = "draft",
    source: str = "api",
    grade: str | None = None,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"""insert into progress_reports as r
              (id, tenant, measure_id, plan_id, period, fiscal_year, version, state, results,
               issues, direction, self_grade, grade, source, created_by, created_at, updated_by,
               updated_at, published_at)
            values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $15,
                    $16, case when $8 = 'published' then $16::timestamptz end)
            returning {REPORT_COLUMNS}""",
        report_id,
        measure["tenant"],
        measure["id"],
        measure["plan_id"],
        period,
        fiscal_year,
        version,
        state,
        results,
        issues,
        direction,
        self_grade,
        grade,
        source,
        actor,
        now,
    )
    return row


async def update_content(
    conn: Conn,
    report_id: UUID,
    *,
    results: str,
    issues: str,
    direction: str,
    self_grade: str | None,
    actor: str,
    now: datetime,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        f"""update progress_reports r set results = $2, issues = $3, direction = $4,
                   self_grade = $5, updated_by = $6, updated_at = $7, revision = revision + 1
            where r.id = $1 returning {REPORT_COLUMNS}""",
        report_id,
        results,
        issues,
        direction,
        self_grade,
        actor,
        now,
    )
    return row


async def set_state(
    conn: Conn,
    report_id: UUID,
    state: str,
    *,
    actor: str,
    now: datetime,
    grade: str | None = None,
    grade_reason: str | None = None,
    set_grade: bool = False,
) -> asyncpg.Record:
    """Move a report to ``state`` (bumps the revision); ``set_grade`` also records the grade
    that counts and why."""
    row: asyncpg.Record = await conn.fetchrow(
        f"""update progress_reports r set state = $2, updated_by = $3, updated_at = $4,
                   revision = revision + 1,
                   submitted_at = case when $2 = 'submitted' then $4 else submitted_at end,
                   published_at = case when $2 = 'published' then $4 else published_at end,
                   grade = case when $5 then $6 else grade end,
                   grade_reason = case when $5 then $7 else grade_reason end,
                   graded_by = case when $5 then $3 else graded_by end
            where r.id = $1 returning {REPORT_COLUMNS}""",
        report_id,
        state,
        actor,
        now,
        set_grade,
        grade,
        grade_reason,
    )
    return row


async def replace_adherence(
    conn: Conn,
    report_id: UUID,
    entries: Sequence[tuple[str, str | None, str, str | None]],
) -> None:
    """(track, planned label, adherence, note) in order."""
    await conn.execute("delete from progress_report_adherence where report_id = $1", report_id)
    await conn.executemany(
        """insert into progress_report_adherence
             (report_id, position, track, planned, adherence, note)
           values ($1, $2, $3, $4, $5, $6)""",
        [(report_id, i, t, p, a, n) for i, (t, p, a, n) in enumerate(entries)],
    )


async def replace_evidence(
    conn: Conn, report_id: UUID, links: Sequence[tuple[str, str | None]]
) -> None:
    await conn.execute("delete from progress_report_evidence where report_id = $1", report_id)
    await conn.executemany(
        """insert into progress_report_evidence (report_id, position, url, title)
           values ($1, $2, $3, $4)""",
        [(report_id, i, url, title) for i, (url, title) in enumerate(links)],
    )


async def copy_details(conn: Conn, from_id: UUID, to_id: UUID) -> None:
    """Copy adherence and evidence of one version into a new one (a correction starts there)."""
    await conn.execute(
        """insert into progress_report_adherence
             (report_id, position, track, planned, adherence, note)
           select $2, position, track, planned, adherence, note
           from progress_report_adherence where report_id = $1""",
        from_id,
        to_id,
    )
    await conn.execute(
        """insert into progress_report_evidence (report_id, position, url, title)
           select $2, position, url, title from progress_report_evidence where report_id = $1""",
        from_id,
        to_id,
    )


async def add_transition(
    conn: Conn,
    report: asyncpg.Record,
    *,
    from_state: str | None,
    to_state: str,
    actor: str,
    comment: str | None,
    now: datetime,
) -> None:
    await conn.execute(
        """insert into progress_report_transitions
             (report_id, tenant, measure_id, period, report_version, from_state, to_state, actor,
              comment, at)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        report["id"],
        report["tenant"],
        report["measure_id"],
        report["period"],
        report["version"],
        from_state,
        to_state,
        actor,
        comment,
        now,
    )


# --- reads -------------------------------------------------------------------------------------


async def reports_of_measures(db: Executor, measure_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    """Every version of every report of these measures, newest period and version first."""
    return await db.fetch(
        f"""select {REPORT_COLUMNS} from progress_reports r
            where r.measure_id = any($1::uuid[])
            order by r.measure_id, r.period desc, r.version desc""",
        measure_ids,
    )


async def adherence_of(db: Executor, report_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select report_id, position, track, planned, adherence, note
           from progress_report_adherence where report_id = any($1::uuid[])
           order by report_id, position""",
        report_ids,
    )


async def evidence_of(db: Executor, report_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select report_id, position, url, title from progress_report_evidence
           where report_id = any($1::uuid[]) order by report_id, position""",
        report_ids,
    )


async def transitions_of(db: Executor, report_ids: Sequence[UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """select id, report_id, report_version, from_state, to_state, actor, comment, at
           from progress_report_transitions where report_id = any($1::uuid[])
           order by report_id, id""",
        report_ids,
    )


async def queue(
    db: Executor, tenant: str, states: Sequence[str], *, limit: int
) -> list[asyncpg.Record]:
    """Reports of a ward waiting in these states, oldest first."""
    return await db.fetch(
        f"""select {REPORT_COLUMNS} from progress_reports r
            where r.tenant = $1 and r.state = any($2::text[])
            order by r.updated_at, r.id limit $3""",
        tenant,
        states,
        limit,
    )


async def published(
    db: Executor, tenant: str, plan_key: str | None, period: str | None, *, limit: int
) -> list[asyncpg.Record]:
    """Published reports of a ward (of one plan and period if given), in the plans' tree order."""
    return await db.fetch(
        f"""select {REPORT_COLUMNS} from progress_reports r
            join nodes n on n.id = r.measure_id join plans p on p.id = r.plan_id
            where r.tenant = $1 and r.state = 'published' and p.state <> 'draft'
              and ($2::text is null or p.key = $2) and ($3::text is null or r.period = $3)
            order by p.key, r.period, n.sort_key limit $4""",
        tenant,
        plan_key,
        period,
        limit,
    )


async def counting_adherence(
    db: Executor, measure_ids: Sequence[UUID], states: Sequence[str]
) -> list[asyncpg.Record]:
    """Per (measure, fiscal year): the adherence of the newest full-year report version in one of
    ``states`` (the reviewed ones), for the measure's yearly status."""
    return await db.fetch(
        """with latest as (
             select distinct on (r.measure_id, r.fiscal_year) r.id, r.measure_id, r.fiscal_year,
                    r.state, r.grade, r.self_grade
             from progress_reports r
             where r.measure_id = any($1::uuid[]) and r.state = any($2::text[])
               and r.period not like '%-H1'
             order by r.measure_id, r.fiscal_year, r.version desc)
           select l.measure_id, l.fiscal_year, l.state, l.grade, l.self_grade,
                  coalesce(array_agg(a.adherence order by a.position)
                           filter (where a.adherence is not null), '{}') as adherence
           from latest l left join progress_report_adherence a on a.report_id = l.id
           group by l.measure_id, l.fiscal_year, l.state, l.grade, l.self_grade
           order by l.measure_id, l.fiscal_year""",
        measure_ids,
        states,
    )


# --- deadlines and the sweep -------------------------------------------------------------------


async def upsert_deadline(
    conn: Conn,
    tenant: str,
    period: str,
    due_on: date,
    reminder_days: Sequence[int],
    set_by: str,
    now: datetime,
) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(
        """insert into report_deadlines (tenant, period, due_on, reminder_days, set_by, set_at)
           values ($1, $2, $3, $4, $5, $6)
           on conflict (tenant, period) do update set due_on = excluded.due_on,
               reminder_days = excluded.reminder_days, set_by = excluded.set_by,
               set_at = excluded.set_at
           returning tenant, period, due_on, reminder_days, set_by, set_at""",
        tenant,
        period,
        due_on,
        list(reminder_days),
        set_by,
        now,
    )
    return row


async def deadlines(db: Executor, tenant: str | None = None) -> list[asyncpg.Record]:
    return await db.fetch(
        """select tenant, period, due_on, reminder_days, set_by, set_at from report_deadlines
           where $1::text is null or tenant = $1 order by tenant, period""",
        tenant,
    )


async def unsubmitted_measures(conn: Conn, tenant: str, period: str) -> list[asyncpg.Record]:
    """Measures of the ward's published plans covering the period's year (not 廃止 / 統合) that
    have no report for the period beyond draft/returned, with their owners (lead first)."""
    return await conn.fetch(
        """select n.id, n.tenant, n.plan_id, n.code, n.title, n.level, p.level_labels,
                  coalesce((select array_agg(o.department_code order by o.is_lead desc,
                                             o.position)
                            from node_owners o where o.node_id = n.id), '{}') as owners
           from nodes n join plans p on p.id = n.plan_id
           where n.tenant = $1 and n.kind = 'measure' and p.state = 'published'
             and p.fiscal_year_from <= $3 and $3 <= p.fiscal_year_to
             and (n.status is null or n.status not in ('廃止', '統合'))
             and not exists (select 1 from progress_reports r
                             where r.measure_id = n.id and r.period = $2
                               and r.state not in ('draft', 'returned'))
           order by p.key, n.sort_key""",
        tenant,
        period,
        int(period[2:6]),
    )


async def claim_signals(
    conn: Conn,
    rows: Sequence[tuple[UUID, str, str, date, str]],
    now: datetime,
) -> set[UUID]:
    """Record (measure, period, step, due date, tenant) signals; return the measures whose row
    is new (the others were signalled before)."""
    if not rows:
        return set()
    claimed = await conn.fetch(
        """insert into report_signals (measure_id, period, step, due_on, tenant, signalled_at)
           select m, p, s, d, t, $6
           from unnest($1::uuid[], $2::text[], $3::text[], $4::date[], $5::text[])
                as x(m, p, s, d, t)
           on conflict do nothing
           returning measure_id""",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        now,
    )
    return {r["measure_id"] for r in claimed}


async def published_versions_for_update(
    conn: Conn, measure_id: UUID, period: str
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""select {REPORT_COLUMNS} from progress_reports r
            where r.measure_id = $1 and r.period = $2 and r.state = 'published'
            for update""",
        measure_id,
        period,
    )


# --- plan-file import and export ---------------------------------------------------------------


async def imported_reports_of_plan(conn: Conn, plan_id: UUID) -> list[asyncpg.Record]:
    """Reports a plan file brought in, with their adherence as [[track, adherence, note], ...]."""
    return await conn.fetch(
        """select r.id, r.measure_id, r.period, r.results, r.issues, r.direction, r.grade,
                  r.extra,
                  coalesce((select jsonb_agg(jsonb_build_array(a.track, a.adherence, a.note)
                                             order by a.position)
                            from progress_report_adherence a where a.report_id = r.id),
                           '[]'::jsonb) as adherence
           from progress_reports r where r.plan_id = $1 and r.source = 'import'
           order by r.measure_id, r.period""",
        plan_id,
    )


async def periods_with_reports(conn: Conn, plan_id: UUID) -> set[tuple[UUID, str]]:
    """(measure, period) pairs of the plan that have any report (API or import)."""
    rows = await conn.fetch(
        "select distinct measure_id, period from progress_reports where plan_id = $1", plan_id
    )
    return {(r["measure_id"], r["period"]) for r in rows}


async def set_imported_content(
    conn: Conn,
    report_id: UUID,
    *,
    results: str,
    issues: str,
    direction: str,
    grade: str | None,
    extra: dict[str, Any],
    now: datetime,
) -> None:
    await conn.execute(
        """update progress_reports set results = $2, issues = $3, direction = $4, grade = $5,
                  self_grade = $5, extra = $6::jsonb, updated_by = 'import', updated_at = $7,
                  revision = revision + 1
           where id = $1""",
        report_id,
        results,
        issues,
        direction,
        grade,
        extra,
        now,
    )


async def set_extra(conn: Conn, report_id: UUID, extra: dict[str, Any]) -> None:
    await conn.execute(
        "update progress_reports set extra = $2::jsonb where id = $1", report_id, extra
    )


async def delete_reports(conn: Conn, report_ids: Sequence[UUID]) -> None:
    await conn.execute("delete from progress_reports where id = any($1::uuid[])", report_ids)


async def published_reports_of_plan(db: Executor, plan_id: UUID) -> list[asyncpg.Record]:
    """The published report of each (measure, period) of a plan, in tree order, with the
    measure's path, the adherence rows and ``extra``."""
    return await db.fetch(
        """select n.path, r.period, r.results, r.issues, r.direction, r.grade, r.extra,
                  coalesce((select jsonb_agg(jsonb_build_object('track', a.track,
                                    'adherence', a.adherence, 'note', a.note)
                                    order by a.position)
                            from progress_report_adherence a where a.report_id = r.id),
                           '[]'::jsonb) as adherence
           from progress_reports r join nodes n on n.id = r.measure_id
           where r.plan_id = $1 and r.state = 'published'
           order by n.sort_key, r.period""",
        plan_id,
    )
