-- walaudit, source database: which tables are attached.
--
-- The worker learns about attach/detach by reading this table's own changes
-- in the replication stream, so they take effect exactly at their commit
-- position (REPLICA IDENTITY FULL makes a DELETE carry the whole row).

CREATE SCHEMA IF NOT EXISTS walaudit;
COMMENT ON SCHEMA walaudit IS 'walaudit: tamper-evident audit trail (capture side and audit store)';

-- One row per table whose changes are captured: each attached table, and
-- each partition (any depth) or inheritance child of one, present and
-- future. A partition's or child's row names its attached table (root_relid)
-- and carries that table's names and settings: its events are the attached
-- table's events.
CREATE TABLE IF NOT EXISTS walaudit.capture_tables (
    relid           oid PRIMARY KEY,
    -- The names its events carry: the attached table's (relation_*: its
    -- own, which its changes carry in the stream).
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
    detached_role   text,
    relation_schema text NOT NULL,
    relation_table  text NOT NULL,
    -- NULL for an attached table; for a partition or inheritance child,
    -- the attached table it belongs to.
    root_relid      oid,
    -- A new value asks the worker for a baseline of the table's existing
    -- rows (attach, walaudit.baseline); NULL: none was asked for; 0: the
    -- table was empty when attached, so its history is complete without one.
    baseline_id     bigint,
    -- Set when the worker found the table's changes escaping the WAL (it
    -- turned UNLOGGED while the event triggers were off); cleared by the
    -- next attach or baseline.
    gap_since       timestamptz
);
CREATE INDEX IF NOT EXISTS capture_tables_root ON walaudit.capture_tables (root_relid) WHERE root_relid IS NOT NULL;
CREATE SEQUENCE IF NOT EXISTS walaudit.baseline_ids;
ALTER TABLE walaudit.capture_tables REPLICA IDENTITY FULL;
COMMENT ON TABLE walaudit.capture_tables IS
    'Attached tables. Written only by walaudit.attach/detach; its changes reach the worker through the stream.';

-- Schemas whose tables are all attached, now and created later, except
-- those named in exclude_tables (walaudit.attach_schema, sql/source/06_schema_rules.sql).
-- Defined here because attached_tables below reads it. The worker never
-- reads it: the tables a rule attaches reach it through capture_tables.
CREATE TABLE IF NOT EXISTS walaudit.schema_rules (
    -- The schema, by OID: a renamed schema keeps its rule.
    schema_oid      oid PRIMARY KEY,
    -- Table names in the schema, as the catalog spells them; a partition
    -- or child of an excluded table is left out with it.
    exclude_tables  text[] NOT NULL DEFAULT '{}',
    -- Applied to each table as far as it has these columns.
    exclude_columns text[] NOT NULL DEFAULT '{}',
    mask_columns    text[] NOT NULL DEFAULT '{}',
    baseline        boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL DEFAULT session_user
);

-- Attached tables as a DBA reads them; `covered_tables` counts the
-- partitions and inheritance children captured under the table's name;
-- `schema_rule` names the table's schema when a schema rule covers it.
CREATE OR REPLACE VIEW walaudit.attached_tables AS
    SELECT t.schema_name, t.table_name, t.key_columns, t.exclude_columns, t.mask_columns, t.attached_at, t.attached_by,
           (SELECT count(*) FROM walaudit.capture_tables m WHERE m.root_relid = t.relid) AS covered_tables,
           t.gap_since,
           (SELECT t.relation_schema FROM walaudit.schema_rules r JOIN pg_catalog.pg_class c ON c.relnamespace = r.schema_oid
            WHERE c.oid = t.relid AND c.relname::text <> ALL (r.exclude_tables)) AS schema_rule
    FROM walaudit.capture_tables t WHERE t.root_relid IS NULL;

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
