-- An indicator status the indicators service decided against a year share of a multi-year total
-- (a bar the plan never prints) is re-read for the grade against printed bars only:
-- graded_met = whether it counts as met (null: the status decides), graded_note = the printed
-- bar that decided it, named in the grade's reason.
alter table indicator_statuses add column graded_met boolean, add column graded_note text;
