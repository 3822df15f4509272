-- The printed bar (yearly target, multi-year total reached within the year, printed increment)
-- an indicator's actual beat in the year, named in the grade's reason; null = none beaten.
alter table indicator_statuses add column exceeded_bar text;
