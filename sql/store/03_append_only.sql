-- walaudit, audit store: the event log only grows.
--
-- UPDATE, DELETE and TRUNCATE are rejected by triggers for every role,
-- the owner included, and not granted to anyone. The one change allowed is
-- the purge of an expired payload by walaudit.apply_retention. A superuser
-- can still disable a trigger or rewrite rows: nothing inside a database
-- stops its superuser. That is what the chain and the signed checkpoints
-- outside the database are for (docs/chain-format.md).

-- Rejects any change to an existing row of an append-only table.
CREATE OR REPLACE FUNCTION walaudit.reject_event_change() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    RAISE EXCEPTION 'walaudit.event_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events can only be added by the worker; retention purges payloads through walaudit.apply_retention.';
END
$$;

-- The event log's guard: rejects every change but a purge
-- (09_apply_retention.sql) that retention permits for that event at this
-- moment (a row change, expired, no active hold), made inside
-- apply_retention. Checking the policy here, not only in apply_retention,
-- means even the table owner cannot purge anything else.
CREATE OR REPLACE FUNCTION walaudit.guard_event_log() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    cutoff timestamptz;
BEGIN
    IF TG_OP = 'UPDATE' AND current_setting('walaudit.purging', true) = 'on'
       AND OLD.purged_at IS NULL AND NEW.purged_at IS NOT NULL
       AND num_nonnulls(NEW.row_key, NEW.old_row, NEW.new_row, NEW.payload_salt) = 0
       AND (NEW.seq, NEW.event_time, NEW.operation, NEW.schema_name, NEW.table_name, NEW.changed_columns, NEW.db_user,
            NEW.role_name, NEW.app_user, NEW.app_context, NEW.application_name, NEW.client_addr, NEW.client_port,
            NEW.backend_pid, NEW.xid, NEW.lsn, NEW.lsn_position, NEW.payload_digest, NEW.prev_hash, NEW.hash, NEW.recorded_at)
           IS NOT DISTINCT FROM
           (OLD.seq, OLD.event_time, OLD.operation, OLD.schema_name, OLD.table_name, OLD.changed_columns, OLD.db_user,
            OLD.role_name, OLD.app_user, OLD.app_context, OLD.application_name, OLD.client_addr, OLD.client_port,
            OLD.backend_pid, OLD.xid, OLD.lsn, OLD.lsn_position, OLD.payload_digest, OLD.prev_hash, OLD.hash, OLD.recorded_at) THEN
        cutoff := walaudit.retention_cutoff(OLD.schema_name, OLD.table_name, walaudit.retention_clock());
        IF OLD.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT') AND OLD.event_time < cutoff AND NOT walaudit.is_held(OLD) THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'retention does not allow purging seq % (not expired, held by a legal hold, or not a row change)', OLD.seq
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RAISE EXCEPTION 'walaudit.event_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Events can only be added by the worker; retention purges payloads through walaudit.apply_retention.';
END
$$;

-- Guards a table of the store: `row_function` runs before each of
-- `row_events` (e.g. 'UPDATE OR DELETE'), `truncate_function`, if given,
-- before a TRUNCATE. Both triggers are ENABLE ALWAYS, so no
-- session_replication_role silences them. A tool of setup's session
-- (pg_temp), used by the files that follow; not part of the schema.
CREATE OR REPLACE FUNCTION pg_temp.guard_table(tbl regclass, row_trigger text, row_events text, row_function regproc,
                                               truncate_trigger text DEFAULT NULL, truncate_function regproc DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE %s ON %s FOR EACH ROW EXECUTE FUNCTION %s()',
                   row_trigger, row_events, tbl, row_function);
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, row_trigger);
    IF truncate_trigger IS NOT NULL THEN
        EXECUTE format('CREATE OR REPLACE TRIGGER %I BEFORE TRUNCATE ON %s FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                       truncate_trigger, tbl, truncate_function);
        EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', tbl, truncate_trigger);
    END IF;
END
$$;

SELECT pg_temp.guard_table('walaudit.event_log', 'walaudit_append_only', 'UPDATE OR DELETE', 'walaudit.guard_event_log',
                           'walaudit_no_truncate', 'walaudit.reject_event_change');
