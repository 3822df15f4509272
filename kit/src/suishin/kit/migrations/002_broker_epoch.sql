-- The broker epoch this service last published to (see kit/brokerwatch.py). When the broker
-- answers with another epoch, it lost its log: what was published since this one began is
-- published again.
create table broker_epoch (
    singleton  boolean primary key default true check (singleton),
    epoch      text not null,
    started_at timestamptz not null,
    seen_at    timestamptz not null default now()
);
