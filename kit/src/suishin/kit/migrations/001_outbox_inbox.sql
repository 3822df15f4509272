-- Transactional outbox: written in the same transaction as the state change it announces.
create table outbox (
    id           bigint generated always as identity primary key,
    event_id     uuid not null unique,
    topic        text not null,
    key          bytea not null,
    body         bytea not null,
    headers      jsonb not null default '{}',
    created_at   timestamptz not null default now(),
    published_at timestamptz
);
create index outbox_unpublished on outbox (id) where published_at is null;
create index outbox_published_at on outbox (published_at) where published_at is not null;

create function outbox_notify() returns trigger language plpgsql as $$
begin
    -- Duplicate notifications within one transaction are collapsed by PostgreSQL.
    perform pg_notify('suishin_outbox', tg_table_schema);
    return null;
end $$;

create trigger outbox_notify after insert on outbox
    for each statement execute function outbox_notify();

-- Inbox: which events each consumer has applied, written with the handler's effects.
create table inbox (
    consumer    text not null,
    event_id    uuid not null,
    received_at timestamptz not null default now(),
    primary key (consumer, event_id)
);
create index inbox_received_at on inbox (received_at);
