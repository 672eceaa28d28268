-- walaudit, audit store: who may do what.
--
-- walaudit_reader reads and verifies, walaudit_admin also sets policies,
-- walaudit_writer (the worker) adds events and keeps its position. Tables
-- and internal functions are revoked from PUBLIC; what each role needs is
-- granted by name. Functions not revoked here (the chain encoding,
-- verify_chain, row_ref, the append-only trigger functions) keep
-- PostgreSQL's default EXECUTE for PUBLIC: they are pure, or read nothing
-- their caller could not read anyway.
GRANT USAGE ON SCHEMA walaudit TO walaudit_reader, walaudit_admin, walaudit_writer;

-- The event log. The CLI verifier recomputes every hash from the log
-- itself, which needs the columns the walaudit.events view leaves out
-- (payload salt and digest, client port, backend pid, position in the
-- transaction, purge time), so readers may read the log: it shows nothing
-- about the data that the view does not, and a purged event's salt is gone
-- with its payload, so its digest cannot be brute-forced. Reads stay
-- unlogged, as reads of the view are (docs/sql-reference.md).
REVOKE ALL ON walaudit.event_log, walaudit.capture_state, walaudit.capture_config, walaudit.baseline_progress, walaudit.store_secrets FROM PUBLIC;
GRANT SELECT ON walaudit.events, walaudit.event_log TO walaudit_reader, walaudit_admin;
GRANT EXECUTE ON FUNCTION walaudit.verify_chain(bigint, bigint) TO walaudit_reader, walaudit_admin;

-- The worker: adds events and keeps its position; never changes an event.
GRANT SELECT, INSERT ON walaudit.event_log TO walaudit_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON walaudit.capture_state, walaudit.capture_config, walaudit.baseline_progress TO walaudit_writer;
GRANT SELECT ON walaudit.store_secrets TO walaudit_writer;
-- Every role that inserts events evaluates the row reference for the index
-- (PostgreSQL checks EXECUTE there): the worker's role by name, and
-- everyone, since a hash is no secret and a blanket REVOKE must not stop
-- the worker.
GRANT EXECUTE ON FUNCTION walaudit.row_ref(text, text, jsonb) TO PUBLIC, walaudit_writer;

-- The chain and its checkpoints. Locking the chain row FOR UPDATE (every
-- appender does) needs an UPDATE privilege; the row itself never changes.
REVOKE ALL ON walaudit.chain, walaudit.checkpoint_log FROM PUBLIC;
GRANT SELECT ON walaudit.chain, walaudit.checkpoints, walaudit.baseline_progress TO walaudit_reader, walaudit_admin;
GRANT SELECT, INSERT ON walaudit.checkpoint_log TO walaudit_writer;
GRANT SELECT ON walaudit.chain TO walaudit_writer;
GRANT UPDATE (created_at) ON walaudit.chain TO walaudit_writer;
REVOKE ALL ON FUNCTION walaudit.append_event(text, text, text, jsonb, jsonb, jsonb) FROM PUBLIC;

-- The Merkle tree: the worker adds nodes (and extends the tree under the
-- chain's lock); proofs and roots are for everyone who may read the log.
REVOKE ALL ON walaudit.merkle_nodes FROM PUBLIC;
GRANT SELECT ON walaudit.merkle_nodes TO walaudit_reader, walaudit_admin;
GRANT SELECT, INSERT ON walaudit.merkle_nodes TO walaudit_writer;
REVOKE ALL ON FUNCTION walaudit.tree_extend() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.tree_extend() TO walaudit_writer;

-- Retention and legal holds: set by admins through the functions only.
REVOKE ALL ON walaudit.retention_policy, walaudit.legal_hold FROM PUBLIC;
REVOKE ALL ON FUNCTION walaudit.set_retention(regclass, interval, text), walaudit.retention_clock(),
    walaudit.retention_cutoff(text, text, timestamptz), walaudit.table_names(regclass),
    walaudit.keeps_at_least(interval, interval), walaudit.guard_retention_policy(),
    walaudit.place_legal_hold(text, text, regclass, jsonb, timestamptz, timestamptz, text),
    walaudit.release_legal_hold(text, text), walaudit.is_held(walaudit.event_log), walaudit.guard_legal_hold(),
    walaudit.apply_retention(boolean), walaudit.guard_event_log() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.set_retention(regclass, interval, text),
    walaudit.place_legal_hold(text, text, regclass, jsonb, timestamptz, timestamptz, text),
    walaudit.release_legal_hold(text, text), walaudit.apply_retention(boolean) TO walaudit_admin;
GRANT SELECT ON walaudit.retention_policies, walaudit.legal_holds TO walaudit_reader, walaudit_admin;

-- Reports: readers call the functions, which log each call; the access
-- log is for admins.
REVOKE ALL ON walaudit.access_log FROM PUBLIC;
REVOKE ALL ON FUNCTION walaudit.log_access(text, jsonb, bigint), walaudit.row_history(regclass, jsonb),
    walaudit.row_as_of(regclass, jsonb, timestamptz), walaudit.changes(timestamptz, timestamptz, regclass, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.row_history(regclass, jsonb), walaudit.row_as_of(regclass, jsonb, timestamptz),
    walaudit.changes(timestamptz, timestamptz, regclass, text) TO walaudit_reader, walaudit_admin;
GRANT SELECT ON walaudit.access TO walaudit_admin;
