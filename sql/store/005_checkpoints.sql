-- walaudit, audit store: the chain's identity and its signed checkpoints.
--
-- The worker signs "seq N ends in hash H" with an Ed25519 key and appends it
-- to a file outside the database first, then records it here. The copy
-- here is for reading; the external file is what `walaudit verify
-- --checkpoints` trusts.

-- One row: the id every checkpoint of this store names.
CREATE TABLE walaudit.chain (
    chain_id   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at timestamptz NOT NULL DEFAULT now(),
    singleton  boolean NOT NULL DEFAULT true UNIQUE CHECK (singleton)
);
INSERT INTO walaudit.chain DEFAULT VALUES;

CREATE TABLE walaudit.checkpoint_log (
    hash            bytea PRIMARY KEY,
    seq             bigint NOT NULL,
    head            bytea NOT NULL,
    checkpoint_time timestamptz NOT NULL,
    previous        bytea,
    signature       bytea NOT NULL,
    recorded_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE TRIGGER walaudit_append_only BEFORE UPDATE OR DELETE ON walaudit.checkpoint_log
    FOR EACH ROW EXECUTE FUNCTION walaudit.reject_event_change();
ALTER TABLE walaudit.checkpoint_log ENABLE ALWAYS TRIGGER walaudit_append_only;

-- Signed checkpoints, newest last.
CREATE VIEW walaudit.checkpoints AS
    SELECT seq, head, checkpoint_time, previous, signature, hash, recorded_at
    FROM walaudit.checkpoint_log;

REVOKE ALL ON walaudit.chain, walaudit.checkpoint_log FROM PUBLIC;
GRANT SELECT ON walaudit.chain, walaudit.checkpoints TO walaudit_reader, walaudit_admin;
GRANT SELECT, INSERT ON walaudit.checkpoint_log TO walaudit_writer;
GRANT SELECT ON walaudit.chain TO walaudit_writer;
