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
-- is recorded as a POLICY event with its counts and the clock it used,
-- and with what lets a verifier account for every purge from the chain
-- alone (docs/chain-format.md, "Purge accounting"): the retention
-- policies and active holds it went by, and per table the cutoff it used
-- and the seqs it purged, as ranges [first, last] holding every row
-- change of the table between them. Keep texts are in IntervalStyle
-- postgres, as set_retention records them.
-- Runs one at a time (a second call waits, then finds nothing left) and
-- alongside the worker, which only inserts.
CREATE OR REPLACE FUNCTION walaudit.apply_retention(dry_run boolean DEFAULT false)
    RETURNS TABLE (table_name text, purged bigint, held bigint)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET IntervalStyle = 'postgres'
AS $$
DECLARE
    clock timestamptz := walaudit.retention_clock();
    oldest_cutoff timestamptz;
    counts jsonb;
    purges jsonb;
    policies jsonb;
    holds jsonb;
BEGIN
    -- Policies and holds cannot change while this runs; a second call waits.
    LOCK TABLE walaudit.retention_policy IN SHARE ROW EXCLUSIVE MODE;
    LOCK TABLE walaudit.legal_hold IN SHARE MODE;
    -- Nothing committed after the latest cutoff can be expired: lets the
    -- BRIN index on event_time skip the recent part of the log.
    SELECT max(clock - p.keep) INTO oldest_cutoff FROM walaudit.retention_policy p;
    SELECT coalesce(jsonb_agg(jsonb_build_object('schema', p.schema_name, 'table', p.table_name, 'keep', p.keep::text, 'mode', p.mode)
                              ORDER BY p.schema_name NULLS FIRST, p.table_name), '[]')
    INTO policies FROM walaudit.retention_policy p;
    SELECT coalesce(jsonb_agg(jsonb_build_object('hold_id', h.hold_id, 'schema', h.schema_name, 'table', h.table_name,
                                                 'row_key', h.row_key, 'since', h.since, 'until', h.until, 'actor', h.actor)
                              ORDER BY h.hold_id), '[]')
    INTO holds FROM walaudit.legal_hold h WHERE h.released_at IS NULL;
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
        RETURNING l.seq, l.schema_name, l.table_name
    ), after AS (
        SELECT p.seq, p.schema_name, p.table_name,
               lag(p.seq) OVER (PARTITION BY p.schema_name, p.table_name ORDER BY p.seq) AS previous
        FROM purge p
    ), starts AS (
        -- A purge starts a new range unless it follows the table's previous
        -- one with no row change of the table in between (one this run did
        -- not purge: held, already purged, or not expired). One probe of
        -- the primary key per gap.
        SELECT a.*, CASE WHEN a.previous IS NULL THEN 1
                         WHEN a.previous + 1 = a.seq THEN 0
                         WHEN EXISTS (SELECT 1 FROM walaudit.event_log m
                                      WHERE m.seq > a.previous AND m.seq < a.seq
                                        AND m.schema_name = a.schema_name AND m.table_name = a.table_name
                                        AND m.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT')) THEN 1
                         ELSE 0 END AS starts
        FROM after a
    ), ranges AS (
        SELECT r.schema_name, r.table_name, min(r.seq) AS first_seq, max(r.seq) AS last_seq
        FROM (SELECT s.*, sum(s.starts) OVER (PARTITION BY s.schema_name, s.table_name ORDER BY s.seq) AS range_number
              FROM starts s) r
        GROUP BY r.schema_name, r.table_name, r.range_number
    )
    SELECT (SELECT coalesce(jsonb_object_agg(tbl, jsonb_build_array(n_purged, n_held)), '{}')
            FROM (SELECT tbl, count(*) FILTER (WHERE NOT x.is_held) AS n_purged, count(*) FILTER (WHERE x.is_held) AS n_held
                  FROM expired x GROUP BY tbl) per_table),
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'schema', t.schema_name, 'table', t.table_name,
                       'cutoff_us', (extract(epoch FROM walaudit.retention_cutoff(t.schema_name, t.table_name, clock)) * 1000000)::bigint,
                       'seqs', t.seqs) ORDER BY t.schema_name, t.table_name), '[]')
            FROM (SELECT r.schema_name, r.table_name, jsonb_agg(jsonb_build_array(r.first_seq, r.last_seq) ORDER BY r.first_seq) AS seqs
                  FROM ranges r GROUP BY r.schema_name, r.table_name) t)
    INTO counts, purges;
    PERFORM set_config('walaudit.purging', 'off', true);
    PERFORM walaudit.append_event('POLICY', NULL, NULL, jsonb_build_object('policy', 'retention'), NULL,
        jsonb_build_object('action', 'apply_retention', 'dry_run', dry_run, 'clock', clock,
                           'test_clock', clock IS DISTINCT FROM now(), 'tables', counts,
                           'retention', policies, 'holds', holds, 'purges', purges));
    RETURN QUERY SELECT c.key, (c.value->>0)::bigint, (c.value->>1)::bigint FROM jsonb_each(counts) c ORDER BY c.key;
END
$$;
