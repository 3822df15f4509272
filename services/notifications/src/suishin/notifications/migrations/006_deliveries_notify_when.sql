-- The NOTIFY says when the earliest delivery it announces is due ("<schema> <epoch seconds>"),
-- so a dispatcher that will wake before then anyway (it looks for the earliest due delivery each
-- time) is not woken for it: e-mails held for quiet hours or a grouping window cost no pass.
create or replace function deliveries_notify() returns trigger language plpgsql as $$
declare
    due timestamptz;
    any_pending boolean;
begin
    select bool_or(true), min(next_attempt_at) into any_pending, due from inserted
     where channel in ('email', 'webhook') and status = 'pending';
    if any_pending then
        -- Duplicate notifications within one transaction are collapsed by PostgreSQL.
        perform pg_notify('suishin_deliveries',
                          tg_table_schema || coalesce(' ' || extract(epoch from due)::text, ''));
    end if;
    return null;
end $$;
