-- Upgrade, source database: capture_tables also holds the partitions and
-- inheritance children of attached tables, under the attached table's
-- names (sql/source/01_capture_tables.sql), and the baseline and gap marks.
-- Rows so far are attached tables: their own names are their stream names.
ALTER TABLE walaudit.capture_tables
    ADD COLUMN relation_schema text, ADD COLUMN relation_table text, ADD COLUMN root_relid oid,
    ADD COLUMN baseline_id bigint, ADD COLUMN gap_since timestamptz;
UPDATE walaudit.capture_tables SET relation_schema = schema_name, relation_table = table_name;
ALTER TABLE walaudit.capture_tables ALTER COLUMN relation_schema SET NOT NULL, ALTER COLUMN relation_table SET NOT NULL;
-- attach gained its baseline argument.
DROP FUNCTION walaudit.attach(regclass, text[], text[]);
