-- The progress-report cycle and the alert life cycle.
-- An alert settled for good (a report submitted for a measure and period): an overdue event
-- that arrives later for the same key opens nothing.
create table settled_alerts (
    tenant          text not null,
    alert_key       text not null,
    source_event_id uuid,
    settled_at      timestamptz not null,
    primary key (tenant, alert_key)
);

-- An e-mail held (quiet hours, grouping, digest) whose alert was resolved before it went out
-- is dropped, not sent.
alter table deliveries drop constraint deliveries_status_check;
alter table deliveries add constraint deliveries_status_check check (status in
    ('pending', 'sending', 'delivered', 'failed', 'digest', 'digested', 'dropped'));
