-- walaudit, audit store: purging what retention allows.
--
-- Purging removes an event's payload (row_key, old_row, new_row) and its
-- salt and sets purged_at; seq, metadata, digest and hash stay, so the
-- chain still verifies and reports the event as purged. Only row changes
-- (INSERT, UPDATE, DELETE) carry payloads that retention may purge; DDL,
-- POLICY, GAP and TRUNCATE events are kept whole. The event log's guard
-- (03_append_only.sql) checks every purge against the same rules.

-- Purges the payloads of expired events that no active hold matches and
-- returns, per table, how many were purged and how many expired events
-- legal holds kept. dry_run counts without purging. Either way the call
-- is recorded as a POLICY event with its counts and the clock it used.
-- Runs one at a time (a second call waits, then finds nothing left) and
-- alongside the worker, which only inserts.
CREATE OR REPLACE FUNCTION walaudit.apply_retention(dry_run boolean DEFAULT false)
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
          AND e.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT') AND e.purged_at IS NULL
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
