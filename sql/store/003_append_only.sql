-- walaudit, audit store: the event log only grows.
--
-- UPDATE, DELETE and TRUNCATE are rejected by triggers for every role,
-- the owner included, and not granted to anyone. A superuser can still
-- disable a trigger or rewrite rows: nothing inside a database stops its
-- superuser. That is what the chain and the signed checkpoints outside the
-- database are for (docs/chain-format.md).

-- Rejects any change to an existing event.
CREATE FUNCTION walaudit.reject_event_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    RAISE EXCEPTION 'walaudit.event_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events can only be added by the worker; retention purges payloads through walaudit.apply_retention.';
END
$$;

CREATE TRIGGER walaudit_append_only BEFORE UPDATE OR DELETE ON walaudit.event_log
    FOR EACH ROW EXECUTE FUNCTION walaudit.reject_event_change();
CREATE TRIGGER walaudit_no_truncate BEFORE TRUNCATE ON walaudit.event_log
    FOR EACH STATEMENT EXECUTE FUNCTION walaudit.reject_event_change();
ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only;
ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_no_truncate;

REVOKE ALL ON walaudit.event_log, walaudit.capture_state, walaudit.capture_config, walaudit.store_secrets FROM PUBLIC;
GRANT USAGE ON SCHEMA walaudit TO walaudit_reader, walaudit_admin, walaudit_writer;
GRANT SELECT ON walaudit.events TO walaudit_reader, walaudit_admin;
-- The worker: adds events and keeps its position; never changes an event.
GRANT SELECT, INSERT ON walaudit.event_log TO walaudit_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON walaudit.capture_state, walaudit.capture_config TO walaudit_writer;
GRANT SELECT ON walaudit.store_secrets TO walaudit_writer;
