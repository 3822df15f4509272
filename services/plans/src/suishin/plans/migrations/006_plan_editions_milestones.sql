-- Editions before adoption as plan states: 素案 (outline) and 案 (proposal), beside draft.
alter table plans drop constraint if exists plans_state_check;
alter table plans add constraint plans_state_check
    check (state in ('draft', 'outline', 'proposal', 'published', 'superseded'));

-- Reminders of the dated milestones a plan prints (plan.milestone_due): one row per milestone
-- and reminder step, written in the transaction that enqueues the event, so the sweep sends
-- each step once. A step passed over (the sweep ran late) is recorded as skipped.
create table milestone_reminders (
    plan_id       uuid not null references plans (id) on delete cascade,
    milestone_key text not null,
    remind_days   integer not null,
    due_on        date not null,
    skipped       boolean not null default false,
    event_id      uuid,
    sent_at       timestamptz not null,
    primary key (plan_id, milestone_key, remind_days, due_on)
);
