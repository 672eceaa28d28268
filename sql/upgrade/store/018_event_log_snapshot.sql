-- Upgrade, audit store: SNAPSHOT events record the rows a table had when it
-- was attached (its baseline; docs/chain-format.md).
ALTER TABLE walaudit.event_log DROP CONSTRAINT event_log_operation_check;
ALTER TABLE walaudit.event_log ADD CONSTRAINT event_log_operation_check
    CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL', 'POLICY', 'GAP', 'SNAPSHOT'));
