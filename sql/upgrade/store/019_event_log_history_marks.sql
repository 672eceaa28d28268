-- Upgrade, audit store: row_as_of finds where a table's history starts
-- (WALAUDIT ATTACH, WALAUDIT BASELINE) and where its baselines finish
-- (WALAUDIT BASELINE DONE) through a partial index of those DDL events.
CREATE INDEX IF NOT EXISTS event_log_history_marks ON walaudit.event_log (schema_name, table_name, seq)
    WHERE operation = 'DDL' AND (new_row->>'command_tag') IN ('WALAUDIT ATTACH', 'WALAUDIT BASELINE', 'WALAUDIT BASELINE DONE');
