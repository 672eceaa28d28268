-- walaudit, audit store: the chained event log.
--
-- One row per event, in chain order (seq is gapless). The chain commits to
-- each row through `hash` (see docs/chain-format.md): metadata directly,
-- and the payload (row_key, old_row, new_row) through a salted digest, so a
-- purged payload leaves its digest behind and the chain still verifies.

CREATE SCHEMA IF NOT EXISTS walaudit;

CREATE TABLE IF NOT EXISTS walaudit.event_log (
    seq              bigint PRIMARY KEY,
    event_time       timestamptz NOT NULL,
    operation        text NOT NULL
        CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL', 'POLICY', 'GAP', 'SNAPSHOT')),
    schema_name      text,
    table_name       text,
    changed_columns  text[],
    db_user          text,
    role_name        text,
    app_user         text,
    app_context      jsonb,
    application_name text,
    client_addr      inet,
    client_port      integer,
    backend_pid      integer,
    xid              bigint,
    -- Commit LSN of the source transaction and the event's position in it:
    -- together unique, so a replayed transaction cannot be stored twice.
    lsn              pg_lsn,
    lsn_position     integer,
    row_key          jsonb,
    old_row          jsonb,
    new_row          jsonb,
    payload_salt     bytea,
    payload_digest   bytea NOT NULL,
    prev_hash        bytea NOT NULL,
    hash             bytea NOT NULL,
    purged_at        timestamptz,
    -- When the worker wrote the event, by its clock (the default for events
    -- SQL appends); not part of the chain (lag metric).
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (lsn, lsn_position)
);
COMMENT ON TABLE walaudit.event_log IS 'The audit trail: append-only, hash-chained. Read it through walaudit.events.';

-- Finding a day of changes scans only that day's blocks: events arrive in
-- commit order, so event_time correlates with physical order and a BRIN
-- index stays tiny.
CREATE INDEX IF NOT EXISTS event_log_time ON walaudit.event_log USING brin (event_time);

-- A row's reference: jsonb's own hash of the key (equal keys hash equal,
-- 1.0 and 1.00 included), seeded with the table's names. NULL when the
-- key is. No SET clause and qualified names, so the planner inlines it
-- and a query's call matches the index expression.
CREATE OR REPLACE FUNCTION walaudit.row_ref(schema_name text, table_name text, row_key jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN pg_catalog.jsonb_hash_extended(row_key,
        pg_catalog.hashtextextended(table_name, pg_catalog.hashtextextended(schema_name, 0)));

-- A row's events: a btree on one bigint, the row reference. A btree on
-- (schema_name, table_name, row_key) would compare two texts and a jsonb on
-- every level of every descent (binary COPY of 200k captured pgbench
-- events: 4.4-4.7 s with that index, 3.0-3.3 s with this one;
-- bench/RESULTS.md). Queries name the reference and the columns: a hash
-- collision costs a heap visit, never a wrong row.
-- Only events with a key are indexed: those of tables without one,
-- TRUNCATEs, DDL, POLICY and GAP events add no entry (a query's
-- `row_key = key` implies the predicate).
CREATE INDEX IF NOT EXISTS event_log_row_ref ON walaudit.event_log (walaudit.row_ref(schema_name, table_name, row_key))
    WHERE row_key IS NOT NULL;
-- How many events share a row_ref: ANALYZE samples the expression, so a
-- row's lookup is estimated at its few events, not PostgreSQL's default
-- 0.5 % of the log (50,000 of 10M events: a cost past jit_above_cost, and
-- a plan compiled to machine code at every call; bench/RESULTS.md,
-- sessions 10 and 12). The planner uses no statistics of a partial
-- index's expression.
CREATE STATISTICS IF NOT EXISTS walaudit.event_log_row_ref_stats ON (walaudit.row_ref(schema_name, table_name, row_key))
    FROM walaudit.event_log;
-- The rare events, few among millions and each looked up at once: DDL
-- (with a table's history marks: ATTACH, BASELINE, BASELINE DONE), POLICY
-- (which verifiers read before the chain to account for every purged
-- payload, docs/chain-format.md "Purge accounting"), GAP, and a table's
-- TRUNCATEs (no row key, but they remove every row). One partial index for
-- all four: each partial index costs every insert its predicate, and five
-- of them cost 0.8 µs of 6.6 per stored event, this one nothing measurable
-- (bench/store.sh, bench/RESULTS.md).
CREATE INDEX IF NOT EXISTS event_log_marks ON walaudit.event_log (operation, schema_name, table_name, seq)
    WHERE operation IN ('DDL', 'POLICY', 'GAP', 'TRUNCATE');

-- The public reading surface (PRODUCT.md §5).
CREATE OR REPLACE VIEW walaudit.events AS
    SELECT seq, event_time, operation, schema_name, table_name, row_key, old_row, new_row,
           changed_columns, db_user, role_name, app_user, app_context, application_name,
           client_addr, xid, lsn, purged_at IS NOT NULL AS purged, hash, prev_hash
    FROM walaudit.event_log;
