-- walaudit, audit store: where capture stands, written in the same
-- transaction as the events it covers (exactly-once).

-- One row per slot: the commit LSN of the last source transaction whose
-- events are stored. On restart the worker resumes after it.
CREATE TABLE IF NOT EXISTS walaudit.capture_state (
    slot             text PRIMARY KEY,
    source_system_id text NOT NULL,
    last_lsn         pg_lsn NOT NULL,
    last_commit_time timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- The captured tables (walaudit.capture_tables on the source) as the worker
-- saw them at last_lsn: attach and detach take effect at their commit
-- position in the stream, not when polled.
CREATE TABLE IF NOT EXISTS walaudit.capture_config (
    slot            text NOT NULL,
    relid           oid NOT NULL,
    -- The names its events carry (relation_*: the names the stream carries).
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    key_columns     text[] NOT NULL,
    exclude_columns text[] NOT NULL,
    mask_columns    text[] NOT NULL,
    relation_schema text NOT NULL,
    relation_table  text NOT NULL,
    -- The attached table a partition or child belongs to.
    root_relid      oid,
    PRIMARY KEY (slot, relid)
);

-- Baselines the worker is taking or took: where each stands, written in
-- the same transaction as its SNAPSHOT events, so a restarted worker goes
-- on from the last stored chunk.
CREATE TABLE IF NOT EXISTS walaudit.baseline_progress (
    slot            text NOT NULL,
    baseline_id     bigint NOT NULL,
    -- The table asked for (attached, or a partition that joined with rows)
    -- and the names its events carry.
    relid           oid NOT NULL,
    schema_name     text NOT NULL,
    table_name      text NOT NULL,
    -- The request's commit LSN: a row with an event after it gets no SNAPSHOT.
    request_lsn     pg_lsn NOT NULL,
    -- Who asked (attach or walaudit.baseline): the SNAPSHOT events' actor.
    requested_by    text,
    requested_role  text,
    -- The table being read (the attached one or a partition or child) and
    -- the last key read from it; NULL before the first chunk.
    source_relid    oid,
    last_key        text[],
    chunks          bigint NOT NULL DEFAULT 0,
    rows_recorded   bigint NOT NULL DEFAULT 0,
    -- Rows read that had an event of their own since the request.
    rows_skipped    bigint NOT NULL DEFAULT 0,
    requested_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at     timestamptz,
    PRIMARY KEY (slot, baseline_id)
);

-- Secrets of this store: the key for masked columns. Readable by the worker only.
CREATE TABLE IF NOT EXISTS walaudit.store_secrets (
    name  text PRIMARY KEY,
    value bytea NOT NULL
);
INSERT INTO walaudit.store_secrets VALUES ('mask_key', sha256(gen_random_uuid()::text::bytea || gen_random_uuid()::text::bytea))
    ON CONFLICT DO NOTHING;
