-- walaudit, audit store: a cheaper index for a row's events.
--
-- The (schema_name, table_name, row_key) btree of 001 compared two texts
-- and a jsonb on every level of every descent: about half of what the
-- store spent per inserted event (binary COPY of 200k captured pgbench
-- events: 4.4–4.7 s with it, 2.3–2.5 s without, 3.0–3.3 s with the index
-- below; bench/RESULTS.md). It is replaced by a btree on one bigint, a
-- hash of the three, and a small partial index for TRUNCATEs (which have
-- no row key). Queries name the hash and the columns: a hash collision
-- costs a heap visit, never a wrong row.

-- A row's reference: jsonb's own hash of the key (equal keys hash equal,
-- 1.0 and 1.00 included), seeded with the table's names. NULL when the
-- key is. No SET clause and qualified names, so the planner inlines it
-- and a query's call matches the index expression.
CREATE FUNCTION walaudit.row_ref(schema_name text, table_name text, row_key jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN pg_catalog.jsonb_hash_extended(row_key,
        pg_catalog.hashtextextended(table_name, pg_catalog.hashtextextended(schema_name, 0)));
-- Every role that inserts events evaluates it for the index (PostgreSQL
-- checks EXECUTE there): the worker's role by name, and everyone, since a
-- hash is no secret and a later blanket REVOKE must not stop the worker.
GRANT EXECUTE ON FUNCTION walaudit.row_ref(text, text, jsonb) TO PUBLIC, walaudit_writer;

DROP INDEX walaudit.event_log_row;
-- Only events with a key: those of tables without one, TRUNCATEs, DDL,
-- POLICY and CHECKPOINT events add no entry (a query's `row_key = key`
-- implies the predicate).
CREATE INDEX event_log_row_ref ON walaudit.event_log (walaudit.row_ref(schema_name, table_name, row_key))
    WHERE row_key IS NOT NULL;
CREATE INDEX event_log_truncates ON walaudit.event_log (schema_name, table_name, seq) WHERE operation = 'TRUNCATE';

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
-- found at all: 010's "purged" error could never be raised and is gone;
-- docs/sql-reference.md says what that means for old moments.
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
