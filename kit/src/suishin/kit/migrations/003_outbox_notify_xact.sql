-- The outbox's NOTIFY names the transaction that committed the rows ("<schema> <xid>"), so a
-- relay whose last claim already saw that transaction does not look again (kit/outbox.py): the
-- writer's own wake-up usually starts the pass before its commit's NOTIFY arrives.
create or replace function outbox_notify() returns trigger language plpgsql as $$
begin
    -- Duplicate notifications within one transaction are collapsed by PostgreSQL.
    perform pg_notify('suishin_outbox', tg_table_schema || ' ' || pg_current_xact_id()::text);
    return null;
end $$;
