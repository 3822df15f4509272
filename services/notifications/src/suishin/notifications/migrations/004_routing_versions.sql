-- The version of what routing reads about a tenant (tenants, departments, rules, subscriptions,
-- silences, webhooks, people, preferences, assignments). Every transaction that changes any of
-- it gives the tenant a new version from one sequence (never reused, so a version a replica
-- cached cannot come back after a truncate), so each replica keeps the tenants' routing
-- snapshots in memory and checks them with one query per batch
-- (suishin.notifications.storage.directory.SnapshotCache).
create sequence routing_version_seq;

create table routing_versions (
    tenant  text primary key,
    version bigint not null,
    -- the transaction that set it: a transaction that changes many rows sets it once
    tx      bigint not null
);

create function routing_bump(t text) returns void language sql
    set search_path from current as $$
    insert into routing_versions as v (tenant, version, tx)
    values (t, nextval('routing_version_seq'), txid_current())
    on conflict (tenant) do update set version = excluded.version, tx = excluded.tx
        where v.tx <> excluded.tx;
$$;

create function routing_changed() returns trigger language plpgsql
    set search_path from current as $$
begin
    if tg_op <> 'INSERT' then
        perform routing_bump(old.tenant);
    end if;
    if tg_op <> 'DELETE' and (tg_op = 'INSERT' or new.tenant is distinct from old.tenant) then
        perform routing_bump(new.tenant);
    end if;
    return null;
end $$;

create function routing_truncated() returns trigger language plpgsql
    set search_path from current as $$
begin
    -- every tenant's snapshot may have changed: no cached version matches a missing row
    delete from routing_versions;
    return null;
end $$;

-- Deferred to the commit, so that the version row is the last lock the transaction takes
-- (no deadlock with a transaction that changes the same tenant's rows in another order), and
-- the new version is visible exactly when the change is.
do $$
declare tbl text;
begin
    foreach tbl in array array['tenants', 'departments', 'routing_rules', 'subscriptions',
                               'silences', 'webhooks', 'people', 'preferences', 'assignments']
    loop
        execute format(
            'create constraint trigger %I after insert or update or delete on %I
                 deferrable initially deferred for each row execute function routing_changed()',
            tbl || '_routing_changed', tbl);
        execute format(
            'create trigger %I after truncate on %I for each statement
                 execute function routing_truncated()',
            tbl || '_routing_truncated', tbl);
    end loop;
end $$;
