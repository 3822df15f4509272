-- Directory: who works where, per tenant. Rules target posts, departments and bodies; people
-- are resolved at send time through assignments that are valid on that day (April rotation).
create table tenants (
    tenant          text primary key,
    name            text not null,
    settings        jsonb not null default '{}',
    escalation      jsonb not null default '[]',
    imported_at     timestamptz not null default now()
);

create table departments (
    tenant  text not null,
    code    text not null,
    name    text not null,
    bu      text,
    aliases text[] not null default '{}',
    primary key (tenant, code)
);

create table bodies (
    tenant text not null,
    code   text not null,
    name   text not null,
    primary key (tenant, code)
);

create table posts (
    tenant text not null,
    code   text not null,
    name   text not null,
    primary key (tenant, code)
);

create table people (
    tenant   text not null,
    id       text not null,
    name     text not null,
    email    text,
    language text not null default 'ja',
    active   boolean not null default true,
    primary key (tenant, id)
);

create table assignments (
    id              bigint generated always as identity primary key,
    tenant          text not null,
    person_id       text not null,
    department_code text,
    post_code       text,
    body_code       text,
    title           text,
    valid_from      date,
    valid_to        date,
    foreign key (tenant, person_id) references people (tenant, id) on delete cascade,
    check (num_nonnulls(department_code, post_code, body_code) >= 1)
);
create index assignments_lookup on assignments (tenant, department_code, post_code, body_code);

create table preferences (
    tenant             text not null,
    person_id          text not null,
    email_enabled      boolean not null default true,
    cadence            text not null default 'immediate'
                       check (cadence in ('immediate', 'daily', 'weekly')),
    muted_kinds        text[] not null default '{}',
    respect_quiet_hours boolean not null default true,
    language           text,
    updated_at         timestamptz not null default now(),
    updated_by_user    boolean not null default false,
    primary key (tenant, person_id)
);

create table subscriptions (
    id              uuid primary key,
    tenant          text not null,
    person_id       text not null,
    event_types     text[] not null default '{}',
    plan_id         uuid,
    department_code text,
    min_severity    text not null default 'info',
    source          text not null default 'user',
    created_at      timestamptz not null default now()
);
create index subscriptions_tenant on subscriptions (tenant);

create table webhooks (
    tenant  text not null,
    id      text not null,
    url     text not null,
    format  text not null default 'generic' check (format in ('generic', 'slack', 'teams')),
    secret  text not null,
    enabled boolean not null default true,
    primary key (tenant, id)
);

create table routing_rules (
    id            uuid primary key,
    tenant        text not null,
    name          text not null,
    event_types   text[] not null default '{}',
    kinds         text[] not null default '{}',
    plan_ids      uuid[] not null default '{}',
    department_codes text[] not null default '{}',
    min_severity  text not null default 'info',
    targets       jsonb not null default '[]',
    webhook_ids   text[] not null default '{}',
    escalate      boolean not null default false,
    enabled       boolean not null default true,
    source        text not null default 'user',
    created_by    text,
    created_at    timestamptz not null default now()
);
create index routing_rules_tenant on routing_rules (tenant) where enabled;

create table silences (
    id              uuid primary key,
    tenant          text not null,
    kinds           text[] not null default '{}',
    subject         text,
    department_code text,
    recipient_id    text,
    reason          text not null,
    created_by      text not null,
    starts_at       timestamptz not null,
    expires_at      timestamptz not null,
    created_at      timestamptz not null default now(),
    check (expires_at > starts_at)
);
create index silences_active on silences (tenant, expires_at);

-- Alerts: one per (kind, subject, period) episode. Dedup, escalation and "recovered" hang on it.
create table alerts (
    id               uuid primary key,
    tenant           text not null,
    alert_key        text not null,
    kind             text not null,
    subject          text not null,
    period           text,
    severity         text not null,
    state            text not null default 'open' check (state in ('open', 'acknowledged', 'resolved')),
    escalate         boolean not null default false,
    escalation_level int not null default 0,
    escalate_at      timestamptz,
    department_codes text[] not null default '{}',
    plan_ids         uuid[] not null default '{}',
    facts            jsonb not null default '{}',
    source_event_id  uuid,
    opened_at        timestamptz not null,
    acknowledged_at  timestamptz,
    acknowledged_by  text,
    ack_comment      text,
    resolved_at      timestamptz
);
create unique index alerts_one_open on alerts (tenant, alert_key) where state <> 'resolved';
create index alerts_escalation on alerts (escalate_at) where state = 'open' and escalate;
create index alerts_subject on alerts (tenant, subject) where state <> 'resolved';

create table notifications (
    id               uuid primary key,
    tenant           text not null,
    recipient_id     text not null,
    kind             text not null,
    severity         text not null,
    title            text not null,
    body             text not null,
    link             text,
    subject          text,
    period           text,
    dedup_key        text not null,
    alert_id         uuid references alerts (id),
    source_event_id  uuid,
    rule_id          uuid,
    language         text not null default 'ja',
    render_error     text,
    created_at       timestamptz not null,
    read_at          timestamptz,
    acknowledged_at  timestamptz,
    ack_comment      text,
    unique (tenant, recipient_id, dedup_key)
);
create index notifications_inbox on notifications (tenant, recipient_id, created_at desc, id desc);
create index notifications_unread on notifications (tenant, recipient_id) where read_at is null;
create index notifications_alert on notifications (alert_id);

create table digests (
    id           uuid primary key,
    tenant       text not null,
    recipient_id text not null,
    cadence      text not null,
    created_at   timestamptz not null
);

-- One row per notification and channel (inbox, email, webhook). E-mails of a group or a digest
-- share a message: the first delivery carries it, the others point at it with group_id.
create table deliveries (
    id              uuid primary key,
    notification_id uuid references notifications (id),
    digest_id       uuid references digests (id),
    tenant          text not null,
    recipient_id    text not null,
    channel         text not null check (channel in ('inbox', 'email', 'webhook')),
    address         text,
    status          text not null check (status in
                    ('pending', 'sending', 'delivered', 'failed', 'digest', 'digested')),
    attempts        int not null default 0,
    next_attempt_at timestamptz,
    lease_until     timestamptz,
    digest_due_at   timestamptz,
    group_id        uuid,
    last_error      text,
    created_at      timestamptz not null,
    finished_at     timestamptz
);
create index deliveries_due on deliveries (next_attempt_at) where status in ('pending', 'sending');
create index deliveries_digest on deliveries (tenant, recipient_id, digest_due_at)
    where status = 'digest';
create index deliveries_notification on deliveries (notification_id);

create table delivery_attempts (
    id          bigint generated always as identity primary key,
    delivery_id uuid not null references deliveries (id),
    attempt     int not null,
    started_at  timestamptz not null,
    finished_at timestamptz not null,
    outcome     text not null check (outcome in ('delivered', 'retry', 'failed')),
    error       text,
    detail      text
);
create index delivery_attempts_delivery on delivery_attempts (delivery_id, attempt);

-- What routing decided for each event that did not end in a notification, so that nothing is
-- silently dropped: no_rule, no_recipients, deduplicated, silenced, muted, resolved ...
create table routing_outcomes (
    id              bigint generated always as identity primary key,
    tenant          text not null,
    source_event_id uuid,
    event_type      text not null,
    outcome         text not null,
    rule_id         uuid,
    detail          text not null,
    created_at      timestamptz not null
);
create index routing_outcomes_event on routing_outcomes (tenant, source_event_id);
