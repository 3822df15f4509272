-- Every ancestor of a linked plan node (e.g. the measure above a workload item, the goal above
-- the measure), so `Measure.indicators` also lists the indicators of the measure's items.
create table indicator_link_ancestors (
    indicator_id uuid not null references indicators (id) on delete cascade,
    ancestor_id  uuid not null,
    tenant       text not null,
    primary key (indicator_id, ancestor_id)
);
create index indicator_link_ancestors_node on indicator_link_ancestors (tenant, ancestor_id);
