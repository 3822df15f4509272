-- The first fiscal year evaluated. Reports are accepted from period_start_fy on (a plan file may
-- list actuals from before its plan period); statuses are evaluated from the plan period on.
alter table indicators add column evaluated_from_fy integer;
