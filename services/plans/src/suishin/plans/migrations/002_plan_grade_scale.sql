-- A plan file may bring its own grade scale (e.g. 板橋区 前期 and 後期 word 達成 differently);
-- a plan's measures are graded on it, else on the tenant's.
alter table plans add column grade_scale jsonb;
