-- Upgrade, audit store: one partial index for the rare events (DDL,
-- POLICY, GAP, TRUNCATE) instead of five, each of which cost every insert
-- its predicate (bench/store.sh).
CREATE INDEX IF NOT EXISTS event_log_marks ON walaudit.event_log (operation, schema_name, table_name, seq)
    WHERE operation IN ('DDL', 'POLICY', 'GAP', 'TRUNCATE');
DROP INDEX IF EXISTS walaudit.event_log_policies, walaudit.event_log_gaps, walaudit.event_log_ddl,
    walaudit.event_log_truncates, walaudit.event_log_history_marks;
