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
-- event_log_marks.
-- jit = off, here and in row_as_of: until ANALYZE has sampled
-- event_log_row_ref_stats (a store loaded faster than autovacuum analyzes
-- it), the planner takes the default 0.5 % of the log for the events
-- sharing a row_ref (50,000 of 10M), the lookup's cost passes
-- jit_above_cost, and every call compiled its plan to machine code, ~35 ms
-- for a query that runs in ~1 (bench/RESULTS.md, session 10).
CREATE OR REPLACE FUNCTION walaudit.row_history(tbl regclass, key jsonb)
    RETURNS SETOF walaudit.events
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET jit = off
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

-- The spans of a table's history the trail holds completely, oldest first
-- (docs/sql-reference.md, "What row_as_of can answer"). A span starts at
-- an ATTACH event (the first, or the first after a GAP of the table or a
-- table-less GAP) or at a WALAUDIT BASELINE event, and ends at the next
-- GAP (moments after `end_time` are not covered) or the next BASELINE
-- (which starts the next span at once). `baseline`: 'none' (attached
-- without one), 'requested' (no WALAUDIT BASELINE DONE yet), 'done'. A
-- GAP's moment: a detach's commit; for an UNLOGGED table the earlier of
-- its `since` and the event; for a lost slot (no table) the commit time of
-- the last captured event before it, since every later change may be lost.
-- Reads only the history marks and GAPs, each through its partial index.
CREATE OR REPLACE FUNCTION walaudit.coverage_spans(scope_schema text, scope_table text)
    RETURNS TABLE (start_seq bigint, start_time timestamptz, start_kind text, baseline text, done_seq bigint,
                   end_seq bigint, end_time timestamptz, end_reason text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    mark record;
    open boolean := false;
BEGIN
    FOR mark IN
        SELECT m.seq, m.event_time AS moment, m.new_row->>'command_tag' AS kind, m.new_row
        FROM walaudit.event_log m
        WHERE m.operation = 'DDL' AND m.schema_name = scope_schema AND m.table_name = scope_table
          AND (m.new_row->>'command_tag') IN ('WALAUDIT ATTACH', 'WALAUDIT BASELINE', 'WALAUDIT BASELINE DONE')
        UNION ALL
        SELECT g.seq,
               CASE WHEN g.schema_name IS NULL THEN
                        coalesce((SELECT p.event_time FROM walaudit.event_log p
                                  WHERE p.seq < g.seq AND p.operation NOT IN ('POLICY', 'GAP')
                                  ORDER BY p.seq DESC LIMIT 1), g.event_time)
                    WHEN g.new_row->>'since' ~ '^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d(:?\d\d)?)?$' THEN
                        least(g.event_time, (g.new_row->>'since')::timestamptz)
                    ELSE g.event_time END,
               'GAP', g.new_row
        FROM walaudit.event_log g
        WHERE g.operation = 'GAP'
          AND ((g.schema_name = scope_schema AND g.table_name = scope_table) OR (g.schema_name IS NULL AND g.table_name IS NULL))
        ORDER BY 1
    LOOP
        IF mark.kind = 'GAP' OR (mark.kind = 'WALAUDIT BASELINE' AND open) THEN
            IF open THEN
                end_seq := mark.seq;
                end_time := mark.moment;
                end_reason := CASE WHEN mark.kind = 'GAP' THEN coalesce(mark.new_row->>'reason', 'gap') ELSE 'baseline' END;
                RETURN NEXT;
                open := false;
            END IF;
        END IF;
        IF mark.kind = 'WALAUDIT BASELINE' OR (mark.kind = 'WALAUDIT ATTACH' AND NOT open) THEN
            open := true;
            start_seq := mark.seq;
            start_time := mark.moment;
            start_kind := mark.kind;
            -- "baseline": "empty" — the table had no rows: complete from the start.
            baseline := CASE WHEN mark.kind = 'WALAUDIT BASELINE' OR mark.new_row->'baseline' = 'true' THEN 'requested'
                             WHEN mark.new_row->>'baseline' = 'empty' THEN 'done' ELSE 'none' END;
            done_seq := CASE WHEN baseline = 'done' THEN mark.seq END;
            end_seq := NULL;
            end_time := NULL;
            end_reason := NULL;
        -- A partition's or child's own baseline (it joined with rows) names its
        -- `member`: it does not end the attached table's.
        ELSIF mark.kind = 'WALAUDIT BASELINE DONE' AND open AND baseline = 'requested' AND NOT mark.new_row ? 'member' THEN
            baseline := 'done';
            done_seq := mark.seq;
        END IF;
    END LOOP;
    IF open THEN
        RETURN NEXT;
    END IF;
END
$$;

-- The row's image at time `at`, or NULL if the row did not exist then, as
-- far as a complete history shows; a moment or row the trail cannot answer
-- for raises WA001 (not covered) or WA002 (baseline in progress), naming
-- what it can answer for (docs/sql-reference.md). Within the span of
-- history holding `at` (its start: seq s), the row's last event of its own
-- or the table's last TRUNCATE with seq > s committed by `at` decides:
-- new_row after an INSERT, UPDATE or SNAPSHOT, NULL after a DELETE or
-- TRUNCATE. With none, the row's first event after s (before any later
-- TRUNCATE or GAP) says what it was: absent before an INSERT, old_row
-- before an UPDATE or DELETE, new_row before its SNAPSHOT; with none
-- either, a finished baseline that has no SNAPSHOT of it says it was absent.
-- Row events come through event_log_row_ref (the second lookup only when
-- the first finds nothing), TRUNCATEs through event_log_marks, the span
-- through coverage_spans. A purged event has no row key left, so it is not
-- found at all; docs/sql-reference.md says what that means for old
-- moments. Only calls that answer are logged: a raised error rolls the
-- log row back with the call, and a refused call has read no row.
CREATE OR REPLACE FUNCTION walaudit.row_as_of(tbl regclass, key jsonb, at timestamptz)
    RETURNS jsonb
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET jit = off
AS $$
DECLARE
    scope record;
    span record;
    next_span record;
    ended record;
    latest walaudit.event_log;
    earliest walaudit.event_log;
    truncated walaudit.event_log;
    gap_seq bigint;
    answer jsonb;
    names text;
BEGIN
    SELECT * INTO scope FROM walaudit.table_names(tbl);
    names := format('%I.%I', scope.schema_name, scope.table_name);
    IF at IS NULL THEN
        PERFORM walaudit.log_access('row_as_of', jsonb_build_object('tbl', tbl::text, 'key', key, 'at', at), 1);
        RETURN NULL;
    END IF;
    SELECT * INTO span FROM walaudit.coverage_spans(scope.schema_name, scope.table_name) c
    WHERE c.start_time <= at AND (c.end_time IS NULL OR at <= c.end_time)
    ORDER BY c.start_seq DESC LIMIT 1;
    IF NOT FOUND THEN
        SELECT * INTO next_span FROM walaudit.coverage_spans(scope.schema_name, scope.table_name) c
        WHERE c.start_time > at ORDER BY c.start_seq LIMIT 1;
        SELECT * INTO ended FROM walaudit.coverage_spans(scope.schema_name, scope.table_name) c
        WHERE c.end_time < at AND c.end_reason <> 'baseline' ORDER BY c.end_seq DESC LIMIT 1;
        IF ended.end_seq IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'WA001',
                MESSAGE = format('the audit trail of %s does not cover %s: it has a gap from %s (GAP event seq %s, %s) %s',
                                 names, at, ended.end_time, ended.end_seq, ended.end_reason,
                                 CASE WHEN next_span.start_seq IS NULL THEN 'and coverage has not resumed'
                                      ELSE format('until %s (%s event seq %s)', next_span.start_time, next_span.start_kind, next_span.start_seq) END),
                DETAIL = 'Changes of the table in a gap are not in the trail, so no row of it can be told for a moment inside one.',
                HINT = CASE WHEN next_span.start_seq IS NULL
                            THEN format('Ask about a moment from %s to %s.', ended.start_time, ended.end_time)
                            ELSE format('Ask about a moment from %s to %s, or from %s on.', ended.start_time, ended.end_time, next_span.start_time) END;
        ELSIF next_span.start_seq IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'WA001',
                MESSAGE = format('the audit trail of %s starts at %s (%s event seq %s): it does not cover %s',
                                 names, next_span.start_time, next_span.start_kind, next_span.start_seq, at),
                HINT = format('Ask about a moment from %s on.', next_span.start_time);
        ELSE
            RAISE EXCEPTION USING ERRCODE = 'WA001',
                MESSAGE = format('the audit trail of %s does not cover %s: %s', names, at,
                                 CASE WHEN EXISTS (SELECT 1 FROM walaudit.coverage_spans(scope.schema_name, scope.table_name))
                                      THEN 'its history starts later' ELSE 'the table was never attached' END);
        END IF;
    END IF;

    SELECT l.* INTO latest FROM walaudit.event_log l
    WHERE l.seq = greatest(
        (SELECT max(k.seq) FROM walaudit.event_log k
         WHERE walaudit.row_ref(k.schema_name, k.table_name, k.row_key) = walaudit.row_ref(scope.schema_name, scope.table_name, key)
           AND k.schema_name = scope.schema_name AND k.table_name = scope.table_name AND k.row_key = key
           AND k.seq > span.start_seq AND k.event_time <= at),
        (SELECT max(t.seq) FROM walaudit.event_log t
         WHERE t.operation = 'TRUNCATE' AND t.schema_name = scope.schema_name AND t.table_name = scope.table_name
           AND t.row_key IS NULL AND t.seq > span.start_seq AND t.event_time <= at));
    IF latest.seq IS NOT NULL THEN
        answer := CASE WHEN latest.operation IN ('DELETE', 'TRUNCATE') THEN NULL ELSE latest.new_row END;
    ELSE
        -- Nothing in (start, at]: the row was then as it was at the start.
        -- Evidence comes before the next GAP (of the table or of all).
        SELECT min(g.seq) INTO gap_seq FROM walaudit.event_log g
        WHERE g.operation = 'GAP' AND g.seq > span.start_seq
          AND ((g.schema_name = scope.schema_name AND g.table_name = scope.table_name) OR (g.schema_name IS NULL AND g.table_name IS NULL));
        SELECT t.* INTO truncated FROM walaudit.event_log t
        WHERE t.operation = 'TRUNCATE' AND t.schema_name = scope.schema_name AND t.table_name = scope.table_name
          AND t.row_key IS NULL AND t.seq > span.start_seq AND t.seq < coalesce(gap_seq, 9223372036854775807)
        ORDER BY t.seq LIMIT 1;
        SELECT k.* INTO earliest FROM walaudit.event_log k
        WHERE walaudit.row_ref(k.schema_name, k.table_name, k.row_key) = walaudit.row_ref(scope.schema_name, scope.table_name, key)
          AND k.schema_name = scope.schema_name AND k.table_name = scope.table_name AND k.row_key = key
          AND k.seq > span.start_seq AND k.seq < coalesce(truncated.seq, gap_seq, 9223372036854775807)
        ORDER BY k.seq LIMIT 1;
        IF earliest.seq IS NOT NULL THEN
            answer := CASE earliest.operation
                WHEN 'SNAPSHOT' THEN earliest.new_row
                WHEN 'INSERT' THEN NULL
                -- An UPDATE that gave the row this key: it had another one before.
                WHEN 'UPDATE' THEN CASE WHEN EXISTS (SELECT 1 FROM jsonb_each(key) c
                                                     WHERE earliest.old_row ? c.key AND earliest.old_row->c.key <> c.value)
                                        THEN NULL ELSE earliest.old_row END
                ELSE earliest.old_row END;
        ELSIF span.baseline = 'done' AND (truncated.seq IS NULL OR span.done_seq < truncated.seq) THEN
            answer := NULL;
        ELSIF span.baseline = 'none' THEN
            RAISE EXCEPTION USING ERRCODE = 'WA001',
                MESSAGE = format('row %s of %s at %s is not known: the table was attached without a baseline at %s (%s event seq %s), and no event of the row since then tells what it was',
                                 key, names, at, span.start_time, span.start_kind, span.start_seq),
                DETAIL = 'Rows that existed at the attach are known only from their first change after it.',
                HINT = format('A baseline (walaudit baseline %s) records every row, so later moments can be answered.', names);
        ELSIF span.baseline = 'requested' AND (span.end_reason IS NULL OR span.end_reason = 'baseline') THEN
            RAISE EXCEPTION USING ERRCODE = 'WA002',
                MESSAGE = format('row %s of %s at %s is not known yet: the baseline requested at %s (%s event seq %s) is in progress',
                                 key, names, at, span.start_time, span.start_kind, span.start_seq),
                HINT = 'Ask again when the WALAUDIT BASELINE DONE event of the table is in the trail.';
        ELSE
            RAISE EXCEPTION USING ERRCODE = 'WA001',
                MESSAGE = format('row %s of %s at %s is not known: %s', key, names, at,
                                 CASE WHEN span.baseline = 'requested'
                                      THEN format('the baseline requested at %s (%s event seq %s) did not finish before the gap at seq %s',
                                                  span.start_time, span.start_kind, span.start_seq, span.end_seq)
                                      ELSE format('the table was truncated (seq %s) before its baseline (requested at seq %s) finished',
                                                  truncated.seq, span.start_seq) END);
        END IF;
    END IF;
    PERFORM walaudit.log_access('row_as_of', jsonb_build_object('tbl', tbl::text, 'key', key, 'at', at), 1);
    RETURN answer;
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
