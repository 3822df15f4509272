-- Fields of a schedule entry or a lineage link that are not modelled in columns (notes, ...),
-- kept so that an export writes the same plan file back.
alter table node_schedule add column extra jsonb not null default '{}';
alter table node_lineage add column extra jsonb not null default '{}';
