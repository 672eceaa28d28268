-- walaudit, audit store: the chain's identity and its signed checkpoints.
--
-- The worker signs "seq N ends in hash H" with an Ed25519 key and appends it
-- to a file outside the database first, then records it here. The copy
-- here is for reading; the external file is what `walaudit verify
-- --checkpoints` trusts.

-- One row: the id every checkpoint of this store names. Appenders of
-- events lock it (06_chain_append.sql); it never changes.
CREATE TABLE IF NOT EXISTS walaudit.chain (
    chain_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    singleton  boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
INSERT INTO walaudit.chain DEFAULT VALUES ON CONFLICT DO NOTHING;
SELECT pg_temp.guard_table('walaudit.chain', 'walaudit_append_only', 'UPDATE OR DELETE', 'walaudit.reject_event_change');

CREATE TABLE IF NOT EXISTS walaudit.checkpoint_log (
    hash            bytea PRIMARY KEY,
    seq             bigint NOT NULL,
    head            bytea NOT NULL,
    checkpoint_time timestamptz NOT NULL,
    previous        bytea,
    signature       bytea NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The same moment as a C2SP tlog checkpoint (signed note): origin,
    -- tree size = seq, Merkle root (12_merkle_tree.sql).
    note            text
);
SELECT pg_temp.guard_table('walaudit.checkpoint_log', 'walaudit_append_only', 'UPDATE OR DELETE', 'walaudit.reject_event_change');

-- Signed checkpoints, newest last.
CREATE OR REPLACE VIEW walaudit.checkpoints AS
    SELECT seq, head, checkpoint_time, previous, signature, hash, recorded_at, note
    FROM walaudit.checkpoint_log;
