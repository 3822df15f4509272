-- Plans service: tenants, departments, plans, the node tree, lifecycle history and grades.

create table tenants (
    code        text primary key,
    name        text not null,
    name_en     text,
    -- The grade scale the machine grade uses (suishin.plans.grading.GradeScale as JSON);
    -- null: the built-in scale for the tenant.
    grade_scale jsonb,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);

-- 部 and 課 (and offices); owners of measures reference them.
create table departments (
    tenant      text not null references tenants (code),
    code        text not null,
    name        text not null,
    kind        text not null default 'ka',
    parent_code text,
    aliases     text[] not null default '{}',
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    primary key (tenant, code)
);

create table plans (
    id              uuid primary key,
    tenant          text not null references tenants (code),
    key             text not null,
    title           text not null,
    kind            text not null,
    fiscal_year_from integer not null,
    fiscal_year_to  integer not null,
    phase           text,
    edition         text,
    predecessor_key text,
    parent_plan_key text,
    state           text not null default 'draft'
                    check (state in ('draft', 'published', 'superseded')),
    level_labels    text[] not null,
    published_on    text,
    published_at    timestamptz,
    superseded_at   timestamptz,
    superseded_by   uuid references plans (id),
    -- What the plan file says that is not modelled in columns (bodies, posts, notes, ...), kept
    -- so that an export writes the same file back.
    document        jsonb not null default '{}',
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (tenant, key),
    check (fiscal_year_from <= fiscal_year_to)
);

-- The tree: goals, strategies, measures and their sub-items, any depth. The id derives from
-- (tenant, plan key, path) (suishin.contracts.ids.node_id), so moving a node makes a new one.
create table nodes (
    id              uuid primary key,
    tenant          text not null,
    plan_id         uuid not null references plans (id) on delete cascade,
    parent_id       uuid references nodes (id) on delete cascade,
    path            text not null,
    depth           integer not null check (depth >= 0),
    position        integer not null,
    sort_key        text not null,
    kind            text not null check (kind in ('group', 'measure', 'item')),
    level           integer not null,
    code            text not null,
    normalized_code text not null,
    title           text not null,
    description     text,
    status          text check (status in ('新規', '継続', '変更', '拡充', '完了', '廃止', '統合')),
    others_text     text,
    tags            text[] not null default '{}',
    attributes      jsonb not null default '{}',
    -- Aggregate version of the events about this node (status changes, grades).
    version         integer not null default 0,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (plan_id, path),
    -- Deferred: re-ordering siblings on import swaps sort keys within one transaction.
    unique (plan_id, sort_key) deferrable initially deferred
);
-- Printed codes restart per group; the normalised code is unique within its parent.
create unique index nodes_code_within_parent
    on nodes (plan_id, coalesce(parent_id, '00000000-0000-0000-0000-000000000000'::uuid),
              normalized_code);
create index nodes_parent on nodes (parent_id);
create index nodes_tenant_kind on nodes (tenant, kind);
create index nodes_tags on nodes using gin (tags);

create table node_owners (
    node_id         uuid not null references nodes (id) on delete cascade,
    tenant          text not null,
    department_code text not null,
    is_lead         boolean not null default false,
    position        integer not null,
    primary key (node_id, department_code),
    foreign key (tenant, department_code) references departments (tenant, code)
);
create index node_owners_department on node_owners (tenant, department_code);
create unique index node_owners_one_lead on node_owners (node_id) where is_lead;

-- ◎ primary goal (one) and ○ related goals (several).
create table node_goals (
    node_id     uuid not null references nodes (id) on delete cascade,
    goal_id     uuid not null references nodes (id) on delete cascade,
    is_primary  boolean not null,
    position    integer not null,
    primary key (node_id, goal_id),
    check (node_id <> goal_id)
);
create unique index node_goals_one_primary on node_goals (node_id) where is_primary;
create index node_goals_goal on node_goals (goal_id);

-- The yearly plan: printed label and normalised phase, per track (schedule row) if several.
create table node_schedule (
    node_id     uuid not null references nodes (id) on delete cascade,
    position    integer not null,
    fiscal_year integer not null,
    track       text not null default '',
    label       text not null,
    phase       text not null,
    primary key (node_id, position),
    unique (node_id, fiscal_year, track)
);
create index node_schedule_year on node_schedule (fiscal_year);

-- Lineage across editions: where this node comes from.
create table node_lineage (
    node_id        uuid not null references nodes (id) on delete cascade,
    position       integer not null,
    kind           text not null,
    from_plan_key  text,
    from_path      text,
    from_node_id   uuid,
    note           text,
    primary key (node_id, position)
);
create index node_lineage_from on node_lineage (from_node_id);

-- Every change to a node: who, when, why, the previous and the new value.
create table node_history (
    id          bigint generated always as identity primary key,
    node_id     uuid not null references nodes (id) on delete cascade,
    tenant      text not null,
    field       text not null,
    previous    jsonb,
    value       jsonb,
    changed_by  text not null,
    reason      text not null,
    source      text not null check (source in ('import', 'api')),
    changed_at  timestamptz not null default now()
);
create index node_history_node on node_history (node_id, id);

-- The latest indicator status per (node, indicator, fiscal year), from indicator.status_changed.
-- No foreign key: statuses may arrive before the plan is imported; grades are computed then.
create table indicator_statuses (
    node_id           uuid not null,
    indicator_id      uuid not null,
    fiscal_year       integer not null,
    tenant            text not null,
    indicator_key     text not null,
    title             text not null,
    status            text not null,
    quantitative      boolean not null,
    exceeded          boolean not null,
    figures           jsonb not null,
    event_id          uuid not null,
    aggregate_version integer,
    occurred_at       timestamptz not null,
    updated_at        timestamptz not null default now(),
    primary key (node_id, indicator_id, fiscal_year)
);
create index indicator_statuses_indicator on indicator_statuses (indicator_id, fiscal_year);

-- A measure's grade per fiscal year: the machine grade and a human override, both kept.
create table grades (
    measure_id      uuid not null references nodes (id) on delete cascade,
    fiscal_year     integer not null,
    tenant          text not null,
    machine_grade   text,
    machine_reason  text,
    machine_at      timestamptz,
    override_grade  text,
    override_reason text,
    override_by     text,
    override_at     timestamptz,
    -- The grade that counts: the override, else the published one, else the machine grade.
    effective_grade text,
    primary key (measure_id, fiscal_year)
);
create index grades_effective on grades (tenant, fiscal_year, effective_grade);

-- Grades as the ward published them (plan file); fiscal_year null = the whole plan period.
create table published_grades (
    measure_id  uuid not null references nodes (id) on delete cascade,
    position    integer not null,
    fiscal_year integer,
    grade       text not null,
    printed     text,
    source      text,
    notes       jsonb not null default '[]',
    primary key (measure_id, position)
);
create unique index published_grades_year
    on published_grades (measure_id, coalesce(fiscal_year, -1));

create table grade_history (
    id          bigint generated always as identity primary key,
    measure_id  uuid not null references nodes (id) on delete cascade,
    tenant      text not null,
    fiscal_year integer not null,
    kind        text not null check (kind in ('machine', 'override', 'published')),
    previous    text,
    grade       text,
    reason      text,
    changed_by  text not null,
    changed_at  timestamptz not null default now()
);
create index grade_history_measure on grade_history (measure_id, fiscal_year, id);

-- Plan state changes (publish, supersede) and imports: who, when, why.
create table plan_history (
    id          bigint generated always as identity primary key,
    plan_id     uuid not null references plans (id) on delete cascade,
    tenant      text not null,
    field       text not null,
    previous    jsonb,
    value       jsonb,
    changed_by  text not null,
    reason      text not null,
    source      text not null check (source in ('import', 'api')),
    changed_at  timestamptz not null default now()
);
create index plan_history_plan on plan_history (plan_id, id);
