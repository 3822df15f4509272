-- The indicator as its plan file wrote it (for export), and its position in the file.
alter table indicators add column plan_file_entry jsonb, add column plan_position integer;
