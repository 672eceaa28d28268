-- Upgrade, audit store: the event log's operations are those events are
-- written with. 'CHECKPOINT' is no event: checkpoints live in
-- walaudit.checkpoint_log. Re-adding the constraint checks every stored
-- event, so a store holding an operation outside the list refuses the
-- upgrade instead of keeping it unnoticed.
ALTER TABLE walaudit.event_log DROP CONSTRAINT event_log_operation_check;
ALTER TABLE walaudit.event_log ADD CONSTRAINT event_log_operation_check
    CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL', 'POLICY', 'GAP'));
