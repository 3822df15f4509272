-- Indicators service: definitions, targets (with revisions), measurements (with supersession)
-- and the evaluated status per fiscal year.

create table indicators (
    id                uuid primary key,              -- ids.indicator_id(tenant, key)
    tenant            text not null,
    key               text not null,                 -- plan-file key; sub-series: <parent>/<sub>
    parent_id         uuid references indicators (id) on delete cascade,
    sub_series_key    text,
    title             text not null,
    description       text,
    unit              text,
    unit_aliases      text[] not null default '{}',
    polarity          text not null,
    aggregation       text not null,
    granularity       text not null,
    cadence           text not null,
    report_lag_days   integer,
    qualitative       boolean not null default false,
    milestone         boolean not null default false,
    tolerance         numeric,
    at_risk_margin    numeric,
    baseline_value    numeric,
    baseline_text     text,
    baseline_period   text,
    baseline_source   text,
    plan_id           uuid,
    plan_key          text,
    period_start_fy   integer not null,
    period_end_fy     integer not null,
    owner_departments text[] not null default '{}',
    origin            text not null default 'graphql',   -- plan_file | graphql
    source            text,
    notes             jsonb not null default '[]',
    status_version    bigint not null default 0,         -- aggregate version of status events
    tracked_since     timestamptz not null default now(),
    updated_at        timestamptz not null default now(),
    unique (tenant, key),
    check (period_start_fy <= period_end_fy)
);
create index indicators_owner_departments on indicators using gin (owner_departments);
create index indicators_plan on indicators (tenant, plan_id);
create index indicators_parent on indicators (parent_id) where parent_id is not null;

-- Which measures / goals (plans-service node ids) an indicator measures.
create table indicator_links (
    indicator_id uuid not null references indicators (id) on delete cascade,
    node_id      uuid not null,
    tenant       text not null,
    plan_id      uuid,
    node_path    text,
    primary key (indicator_id, node_id)
);
create index indicator_links_node on indicator_links (tenant, node_id);

-- Targets per fiscal year (from_fiscal_year set: a multi-year target). Revisions add a row and
-- close the previous one, so old targets are kept.
create table targets (
    id               bigint generated always as identity primary key,
    indicator_id     uuid not null references indicators (id) on delete cascade,
    fiscal_year      integer not null,
    from_fiscal_year integer,
    value            numeric,
    comparator       text,
    text             text,
    printed          text,
    revision         integer not null default 1,
    reason           text,                -- why this revision replaced the previous one
    revised_by       text,
    valid_from       timestamptz not null default now(),
    superseded_at    timestamptz,
    check (value is not null or text is not null)
);
create unique index targets_current
    on targets (indicator_id, fiscal_year, coalesce(from_fiscal_year, 0))
    where superseded_at is null;
create index targets_indicator on targets (indicator_id, fiscal_year, revision);

-- Every report ever accepted. Exactly one row per (indicator, period) is current; the others
-- point to the value that superseded them.
create table measurements (
    id              bigint generated always as identity primary key,
    tenant          text not null,
    indicator_id    uuid not null references indicators (id) on delete cascade,
    period          text not null,
    fiscal_year     integer not null,
    period_end      date not null,
    value           numeric,
    text_value      text,
    unit            text,
    source          text not null,
    idempotency_key text not null,
    reported_by     text,
    is_correction   boolean not null default false,
    comment         text,
    occurred_at     timestamptz not null,            -- when the source recorded the value
    received_at     timestamptz not null default clock_timestamp(),
    event_id        uuid,
    via             text not null,                   -- kafka | graphql
    is_current      boolean not null default false,
    superseded_by   bigint references measurements (id),
    superseded_at   timestamptz,
    unique (tenant, idempotency_key)
);
create index measurements_period on measurements (indicator_id, period);
create index measurements_current on measurements (indicator_id) where is_current;

-- The evaluated status of each indicator for each fiscal year, with its explanation.
create table indicator_status (
    indicator_id uuid not null references indicators (id) on delete cascade,
    fiscal_year  integer not null,
    status       text not null,
    rule         text not null,
    reason       text not null,
    figures      jsonb not null,
    evaluated_at timestamptz not null,
    changed_at   timestamptz not null,
    primary key (indicator_id, fiscal_year)
);
create index indicator_status_status on indicator_status (status, fiscal_year);

-- Every status change, as announced on indicator.status_changed.
create table status_history (
    id           bigint generated always as identity primary key,
    indicator_id uuid not null references indicators (id) on delete cascade,
    fiscal_year  integer not null,
    from_status  text,
    to_status    text not null,
    rule         text not null,
    reason       text not null,
    figures      jsonb not null,
    event_id     uuid not null,
    changed_at   timestamptz not null default now()
);
create index status_history_indicator on status_history (indicator_id, changed_at);
