-- New deliveries wake the dispatchers of every replica (LISTEN suishin_deliveries), so they need
-- not poll the table; the payload is the schema (tests share one database).
create function deliveries_notify() returns trigger language plpgsql as $$
begin
    -- Duplicate notifications within one transaction are collapsed by PostgreSQL.
    perform pg_notify('suishin_deliveries', tg_table_schema);
    return null;
end $$;

create trigger deliveries_notify after insert on deliveries
    for each statement execute function deliveries_notify();
