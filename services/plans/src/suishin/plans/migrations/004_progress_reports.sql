-- Progress reports (進捗報告): one report per measure and period (FY2024 or the interim
-- FY2024-H1), its workflow, schedule adherence per track, evidence, deadlines and what the
-- deadline sweep has already signalled.

-- One row per version of a measure's report for a period. Version 1 is the report; a published
-- report is corrected by version 2, 3, ... (the old one becomes 'superseded' when the correction
-- is published, and stays readable). The current report is the highest version.
create table progress_reports (
    id              uuid primary key,
    tenant          text not null references tenants (code),
    measure_id      uuid not null references nodes (id) on delete cascade,
    plan_id         uuid not null references plans (id) on delete cascade,
    period          text not null check (period ~ '^FY[0-9]{4}(-H1)?$'),
    fiscal_year     integer not null,
    version         integer not null default 1 check (version >= 1),
    state           text not null default 'draft'
                    check (state in ('draft', 'submitted', 'returned', 'accepted', 'approved',
                                     'published', 'superseded')),
    results         text not null default '',   -- 実績
    issues          text not null default '',   -- 課題
    direction       text not null default '',   -- 今後の方向性 / 改善策
    self_grade      text,                       -- the 所管課's self-assessment (scale code)
    grade           text,                       -- the grade that counts once approved
    grade_reason    text,                       -- why the 本部 overrode the self-assessment
    graded_by       text,
    -- Optimistic concurrency: every write bumps it; a writer names the revision it read.
    revision        integer not null default 1,
    source          text not null default 'api' check (source in ('api', 'import')),
    -- What a plan file says about an imported report beyond the columns (source, notes).
    extra           jsonb not null default '{}',
    created_by      text not null,
    created_at      timestamptz not null,
    updated_by      text not null,
    updated_at      timestamptz not null,
    submitted_at    timestamptz,
    published_at    timestamptz,
    unique (measure_id, period, version)
);
create index progress_reports_queue on progress_reports (tenant, state, updated_at);
create index progress_reports_published on progress_reports (tenant, period)
    where state = 'published';

-- Schedule adherence per track of the year as printed in the plan ('' = the only track).
create table progress_report_adherence (
    report_id   uuid not null references progress_reports (id) on delete cascade,
    position    integer not null,
    track       text not null,
    planned     text,
    adherence   text not null
                check (adherence in ('on_schedule', 'ahead', 'delayed', 'not_started',
                                     'completed', 'cancelled')),
    note        text,
    primary key (report_id, position),
    unique (report_id, track)
);

create table progress_report_evidence (
    report_id   uuid not null references progress_reports (id) on delete cascade,
    position    integer not null,
    url         text not null,
    title       text,
    primary key (report_id, position)
);

-- Every workflow step: who, when, why, from which state to which, on which version.
create table progress_report_transitions (
    id              bigint generated always as identity primary key,
    report_id       uuid not null references progress_reports (id) on delete cascade,
    tenant          text not null,
    measure_id      uuid not null,
    period          text not null,
    report_version  integer not null,
    from_state      text,
    to_state        text not null,
    actor           text not null,
    comment         text,
    at              timestamptz not null
);
create index progress_report_transitions_report on progress_report_transitions (report_id, id);

-- Deadlines per tenant and period, set by the 事務局; reminders N days before.
create table report_deadlines (
    tenant          text not null references tenants (code),
    period          text not null check (period ~ '^FY[0-9]{4}(-H1)?$'),
    due_on          date not null,
    reminder_days   integer[] not null default '{14,7,1}',
    set_by          text not null,
    set_at          timestamptz not null,
    primary key (tenant, period)
);

-- What the deadline sweep already signalled, so each reminder step and the overdue signal go
-- out exactly once per measure and period ('remind:<days>' or 'overdue'), per due date.
create table report_signals (
    measure_id      uuid not null references nodes (id) on delete cascade,
    period          text not null,
    step            text not null,
    due_on          date not null,
    tenant          text not null,
    signalled_at    timestamptz not null,
    primary key (measure_id, period, step, due_on)
);
