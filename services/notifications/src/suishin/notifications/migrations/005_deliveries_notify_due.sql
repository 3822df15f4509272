-- Only deliveries the dispatcher sends wake it: pending e-mails and webhook calls. Inbox
-- deliveries (written as delivered, with every alert) and digest items (sent by the digest the
-- scheduler composes, itself a pending e-mail) no longer cost every replica's dispatcher a pass.
create or replace function deliveries_notify() returns trigger language plpgsql as $$
begin
    -- Duplicate notifications within one transaction are collapsed by PostgreSQL.
    if exists (select 1 from inserted
               where channel in ('email', 'webhook') and status = 'pending') then
        perform pg_notify('suishin_deliveries', tg_table_schema);
    end if;
    return null;
end $$;

drop trigger deliveries_notify on deliveries;
create trigger deliveries_notify after insert on deliveries
    referencing new table as inserted
    for each statement execute function deliveries_notify();
