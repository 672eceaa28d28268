-- walaudit, audit store: the chained event log.
--
-- One row per event, in chain order (seq is gapless). The chain commits to
-- each row through `hash` (see docs/chain-format.md): metadata directly,
-- and the payload (row_key, old_row, new_row) through a salted digest, so a
-- purged payload leaves its digest behind and the chain still verifies.

CREATE SCHEMA IF NOT EXISTS walaudit;

CREATE TABLE walaudit.event_log (
    seq              bigint PRIMARY KEY,
    event_time       timestamptz NOT NULL,
    operation        text NOT NULL
        CHECK (operation IN ('INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'DDL', 'POLICY', 'GAP', 'CHECKPOINT')),
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
    -- When the worker stored the event; not part of the chain (lag metric).
    recorded_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    UNIQUE (lsn, lsn_position)
);
COMMENT ON TABLE walaudit.event_log IS 'The audit trail: append-only, hash-chained. Read it through walaudit.events.';

-- Finding a day of changes scans only that day's blocks: events arrive in
-- commit order, so event_time correlates with physical order and a BRIN
-- index stays tiny.
CREATE INDEX event_log_time ON walaudit.event_log USING brin (event_time);
-- A row's history: table, then key.
CREATE INDEX event_log_row ON walaudit.event_log (schema_name, table_name, row_key);

-- The public reading surface (PRODUCT.md §5).
CREATE VIEW walaudit.events AS
    SELECT seq, event_time, operation, schema_name, table_name, row_key, old_row, new_row,
           changed_columns, db_user, role_name, app_user, app_context, application_name,
           client_addr, xid, lsn, purged_at IS NOT NULL AS purged, hash, prev_hash
    FROM walaudit.event_log;
