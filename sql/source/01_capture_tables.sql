-- walaudit, source database: which tables are attached.
--
-- The worker learns about attach/detach by reading this table's own changes
-- in the replication stream, so they take effect exactly at their commit
-- position (REPLICA IDENTITY FULL makes a DELETE carry the whole row).

CREATE SCHEMA IF NOT EXISTS walaudit;
COMMENT ON SCHEMA walaudit IS 'walaudit: tamper-evident audit trail (capture side and audit store)';

CREATE TABLE IF NOT EXISTS walaudit.capture_tables (
    relid           oid PRIMARY KEY,
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    -- Primary-key columns, in key order: they form each event's row_key.
    key_columns     text[] NOT NULL DEFAULT '{}',
    exclude_columns text[] NOT NULL DEFAULT '{}',
    mask_columns    text[] NOT NULL DEFAULT '{}',
    attached_at     timestamptz NOT NULL DEFAULT now(),
    attached_by     text NOT NULL DEFAULT session_user,
    attached_role   text NOT NULL DEFAULT current_user,
    -- Set by walaudit.detach just before it deletes the row, so the DELETE
    -- the worker reads says who detached.
    detached_by     text,
    detached_role   text
);
ALTER TABLE walaudit.capture_tables REPLICA IDENTITY FULL;
COMMENT ON TABLE walaudit.capture_tables IS
    'Attached tables. Written only by walaudit.attach/detach; its changes reach the worker through the stream.';

-- Attached tables as a DBA reads them.
CREATE OR REPLACE VIEW walaudit.attached_tables AS
    SELECT schema_name, table_name, key_columns, exclude_columns, mask_columns, attached_at, attached_by
    FROM walaudit.capture_tables;

-- DDL on attached tables, written by the event triggers (04_ddl.sql); each row
-- becomes a DDL event in the chain.
CREATE TABLE IF NOT EXISTS walaudit.ddl_log (
    id              bigserial PRIMARY KEY,
    command_tag     text NOT NULL,
    object_type     text,
    object_identity text,
    schema_name     text,
    table_name      text,
    db_user         text NOT NULL DEFAULT session_user,
    role_name       text NOT NULL,
    application_name text NOT NULL DEFAULT current_setting('application_name'),
    client_addr     inet DEFAULT inet_client_addr(),
    logged_at       timestamptz NOT NULL DEFAULT now()
);
ALTER TABLE walaudit.ddl_log REPLICA IDENTITY FULL;
