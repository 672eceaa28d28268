-- Upgrade, audit store: capture_config also holds partitions and
-- inheritance children, with the names the stream carries for them
-- (sql/store/02_capture_state.sql). Rows so far are attached tables.
ALTER TABLE walaudit.capture_config
    ADD COLUMN relation_schema text, ADD COLUMN relation_table text, ADD COLUMN root_relid oid;
UPDATE walaudit.capture_config SET relation_schema = schema_name, relation_table = table_name;
ALTER TABLE walaudit.capture_config ALTER COLUMN relation_schema SET NOT NULL, ALTER COLUMN relation_table SET NOT NULL;
