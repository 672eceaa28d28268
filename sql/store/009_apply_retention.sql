-- walaudit, audit store: purging what retention allows.
--
-- Purging removes an event's payload (row_key, old_row, new_row) and its
-- salt and sets purged_at; seq, metadata, digest and hash stay, so the
-- chain still verifies and reports the event as purged. Only row changes
-- (INSERT, UPDATE, DELETE) carry payloads that retention may purge; DDL,
-- POLICY, GAP and TRUNCATE events are kept whole.

-- The event log's guard, now with the one change it allows: a purge that
-- retention permits for that event at this moment (expired, no active
-- hold), made inside apply_retention. Checking the policy here, not only in
-- apply_retention, means even the table owner cannot purge anything else.
CREATE FUNCTION walaudit.guard_event_log() RETURNS trigger
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
        IF OLD.operation IN ('INSERT', 'UPDATE', 'DELETE') AND OLD.event_time < cutoff AND NOT walaudit.is_held(OLD) THEN
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
DROP TRIGGER walaudit_append_only ON walaudit.event_log;
CREATE TRIGGER walaudit_append_only BEFORE UPDATE OR DELETE ON walaudit.event_log
    FOR EACH ROW EXECUTE FUNCTION walaudit.guard_event_log();
ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only;

-- Purges the payloads of expired events that no active hold matches and
-- returns, per table, how many were purged and how many expired events
-- legal holds kept. dry_run counts without purging. Either way the call
-- is recorded as a POLICY event with its counts and the clock it used.
-- Runs one at a time (a second call waits, then finds nothing left) and
-- alongside the worker, which only inserts.
CREATE FUNCTION walaudit.apply_retention(dry_run boolean DEFAULT false)
    RETURNS TABLE (table_name text, purged bigint, held bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    clock timestamptz := walaudit.retention_clock();
    oldest_cutoff timestamptz;
    counts jsonb;
BEGIN
    -- Policies and holds cannot change while this runs; a second call waits.
    LOCK TABLE walaudit.retention_policy IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE walaudit.legal_hold IN SHARE MODE;
    -- Nothing committed after the latest cutoff can be expired: lets the
    -- BRIN index on event_time skip the recent part of the log.
    SELECT max(clock - p.keep) INTO oldest_cutoff FROM walaudit.retention_policy p;
    PERFORM set_config('walaudit.purging', 'on', true);
    WITH expired AS (
        SELECT e.seq, format('%I.%I', e.schema_name, e.table_name) AS tbl, walaudit.is_held(e) AS is_held
        FROM walaudit.event_log e
        WHERE e.event_time < oldest_cutoff
          AND e.operation IN ('INSERT', 'UPDATE', 'DELETE') AND e.purged_at IS NULL
          AND e.event_time < walaudit.retention_cutoff(e.schema_name, e.table_name, clock)
    ), purge AS (
        UPDATE walaudit.event_log l
        SET row_key = NULL, old_row = NULL, new_row = NULL, payload_salt = NULL, purged_at = clock_timestamp()
        FROM expired x
        WHERE l.seq = x.seq AND NOT x.is_held AND NOT dry_run
    )
    SELECT coalesce(jsonb_object_agg(tbl, jsonb_build_array(n_purged, n_held)), '{}') INTO counts
    FROM (SELECT tbl, count(*) FILTER (WHERE NOT x.is_held) AS n_purged, count(*) FILTER (WHERE x.is_held) AS n_held
          FROM expired x GROUP BY tbl) per_table;
    PERFORM set_config('walaudit.purging', 'off', true);
    PERFORM walaudit.append_event('POLICY', NULL, NULL, jsonb_build_object('policy', 'retention'), NULL,
        jsonb_build_object('action', 'apply_retention', 'dry_run', dry_run, 'clock', clock,
                           'test_clock', clock IS DISTINCT FROM now(), 'tables', counts));
    RETURN QUERY SELECT c.key, (c.value->>0)::bigint, (c.value->>1)::bigint FROM jsonb_each(counts) c ORDER BY c.key;
END
$$;

REVOKE ALL ON FUNCTION walaudit.apply_retention(boolean), walaudit.guard_event_log() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.apply_retention(boolean) TO walaudit_admin;
