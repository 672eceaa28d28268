-- walaudit, audit store: reports for auditors, and the log of their use.
--
-- The report functions read walaudit.events and record each call (who,
-- which function, its arguments, how many rows it returned) in
-- walaudit.access_log, which is itself append-only: the audit trail of the
-- audit trail. Reading the events view directly is not logged (PostgreSQL
-- has no SELECT triggers); grant auditors the functions, not the view, if
-- every read must show.

CREATE TABLE IF NOT EXISTS walaudit.access_log (
    access_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    accessed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    db_user       text NOT NULL,
    role_name     text NOT NULL,
    app_user      text,
    function_name text NOT NULL,
    arguments     jsonb NOT NULL,
    rows_returned bigint NOT NULL
);
SELECT pg_temp.guard_table('walaudit.access_log', 'walaudit_append_only', 'UPDATE OR DELETE', 'walaudit.reject_event_change',
                           'walaudit_no_truncate', 'walaudit.reject_event_change');

-- Records one report call.
CREATE OR REPLACE FUNCTION walaudit.log_access(function_name text, arguments jsonb, rows_returned bigint) RETURNS void
    LANGUAGE sql SET search_path = pg_catalog
AS $$
    INSERT INTO walaudit.access_log (db_user, role_name, app_user, function_name, arguments, rows_returned)
    VALUES (session_user, walaudit.statement_role(), nullif(current_setting('walaudit.actor', true), ''),
            function_name, arguments, rows_returned)
$$;

-- A row's events, oldest first: those with its key, and the table's
-- TRUNCATEs after its first event (they removed it too). `key` is the
-- primary key as JSON, e.g. '{"id": 42}'. Served by event_log_row_ref and
-- event_log_truncates.
CREATE OR REPLACE FUNCTION walaudit.row_history(tbl regclass, key jsonb)
    RETURNS SETOF walaudit.events
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    scope record;
    returned bigint;
BEGIN
    SELECT * INTO scope FROM walaudit.table_names(tbl);
    RETURN QUERY
        WITH mine AS (
            SELECT l.seq FROM walaudit.event_log l
            WHERE walaudit.row_ref(l.schema_name, l.table_name, l.row_key) = walaudit.row_ref(scope.schema_name, scope.table_name, key)
              AND l.schema_name = scope.schema_name AND l.table_name = scope.table_name AND l.row_key = key
        )
        SELECT v.* FROM walaudit.events v WHERE v.seq IN (
            SELECT seq FROM mine
            UNION ALL
            SELECT l.seq FROM walaudit.event_log l
            WHERE l.operation = 'TRUNCATE' AND l.schema_name = scope.schema_name AND l.table_name = scope.table_name
              AND l.row_key IS NULL AND l.seq > (SELECT min(seq) FROM mine))
        ORDER BY v.seq;
    GET DIAGNOSTICS returned = ROW_COUNT;
    PERFORM walaudit.log_access('row_history', jsonb_build_object('tbl', tbl::text, 'key', key), returned);
END
$$;

-- The row's image at time `at` as its last event up to then left it:
-- new_row after an INSERT or UPDATE, NULL after a DELETE or TRUNCATE, NULL
-- if nothing was recorded yet. The last event is the later of the row's
-- last keyed event and the table's last TRUNCATE up to `at`, each found
-- through its own index. A purged event has no row key left, so it is not
-- found at all; docs/sql-reference.md says what that means for old
-- moments.
CREATE OR REPLACE FUNCTION walaudit.row_as_of(tbl regclass, key jsonb, at timestamptz)
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    scope record;
    latest walaudit.event_log;
BEGIN
    SELECT * INTO scope FROM walaudit.table_names(tbl);
    SELECT l.* INTO latest FROM walaudit.event_log l
    WHERE l.seq = greatest(
        (SELECT max(k.seq) FROM walaudit.event_log k
         WHERE walaudit.row_ref(k.schema_name, k.table_name, k.row_key) = walaudit.row_ref(scope.schema_name, scope.table_name, key)
           AND k.schema_name = scope.schema_name AND k.table_name = scope.table_name AND k.row_key = key
           AND k.event_time <= at),
        (SELECT max(t.seq) FROM walaudit.event_log t
         WHERE t.operation = 'TRUNCATE' AND t.schema_name = scope.schema_name AND t.table_name = scope.table_name
           AND t.row_key IS NULL AND t.event_time <= at));
    PERFORM walaudit.log_access('row_as_of', jsonb_build_object('tbl', tbl::text, 'key', key, 'at', at), 1);
    IF latest.seq IS NULL OR latest.operation IN ('DELETE', 'TRUNCATE') THEN
        RETURN NULL;
    END IF;
    RETURN latest.new_row;
END
$$;

-- Events committed in [since, until), optionally of one table and/or by
-- one actor (application user, login or role), in chain order. The BRIN
-- index on event_time keeps a day's query to that day's blocks.
CREATE OR REPLACE FUNCTION walaudit.changes(since timestamptz, until timestamptz, tbl regclass DEFAULT NULL, actor text DEFAULT NULL)
    RETURNS SETOF walaudit.events
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    returned bigint;
BEGIN
    RETURN QUERY
        -- MATERIALIZED: the time range alone picks the blocks (BRIN); left
        -- to itself the planner also walks the table's entries in the row
        -- index, which on a big log costs more than it saves.
        WITH in_range AS MATERIALIZED (
            SELECT v.* FROM walaudit.events v WHERE v.event_time >= since AND v.event_time < until
        )
        SELECT r.* FROM in_range r
        WHERE (tbl IS NULL OR (r.schema_name, r.table_name) = (SELECT n.schema_name, n.table_name FROM walaudit.table_names(tbl) n))
          AND (actor IS NULL OR actor IN (r.app_user, r.db_user, r.role_name))
        ORDER BY r.seq;
    GET DIAGNOSTICS returned = ROW_COUNT;
    PERFORM walaudit.log_access('changes',
        jsonb_build_object('since', since, 'until', until, 'tbl', tbl::text, 'actor', actor), returned);
END
$$;

-- Who read what through the report functions, newest last.
CREATE OR REPLACE VIEW walaudit.access AS
    SELECT access_id, accessed_at, db_user, role_name, app_user, function_name, arguments, rows_returned
    FROM walaudit.access_log;
