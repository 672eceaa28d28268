-- walaudit, audit store: adding an event to the chain from SQL.
--
-- Policy changes (retention, legal holds) become POLICY events written by
-- the functions that make them, while the worker appends captured events
-- to the same chain. Every appender first locks the row of walaudit.chain,
-- then reads the head, so appends are serialised; the primary key on seq
-- would refuse a fork even if they were not.

-- Appends one event made in this session (who: session user, effective
-- role, application actor, client) after the current head, hashed by the
-- rules of docs/chain-format.md with a fresh 16-byte salt. Returns its seq.
CREATE OR REPLACE FUNCTION walaudit.append_event(kind text, scope_schema text, scope_table text,
                                      key jsonb, before jsonb, after jsonb)
    RETURNS bigint
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    e walaudit.event_log;
BEGIN
    PERFORM 1 FROM walaudit.chain FOR UPDATE;
    -- A new statement, so a new snapshot: it sees what the last lock holder committed.
    SELECT l.seq, l.hash INTO e.seq, e.prev_hash FROM walaudit.event_log l ORDER BY l.seq DESC LIMIT 1;
    e.seq := coalesce(e.seq, 0) + 1;
    e.prev_hash := coalesce(e.prev_hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
    e.event_time := clock_timestamp();
    e.operation := kind;
    e.schema_name := scope_schema;
    e.table_name := scope_table;
    e.db_user := session_user;
    e.role_name := walaudit.statement_role();
    e.app_user := nullif(current_setting('walaudit.actor', true), '');
    e.app_context := coalesce(nullif(current_setting('walaudit.context', true), ''), '{}')::jsonb;
    e.application_name := current_setting('application_name');
    e.client_addr := inet_client_addr();
    e.client_port := inet_client_port();
    e.backend_pid := pg_backend_pid();
    e.xid := pg_current_xact_id()::text::bigint;
    e.row_key := key;
    e.old_row := before;
    e.new_row := after;
    -- 244 random bits from the server's strong random source, hashed to 128.
    e.payload_salt := substring(sha256(uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid())) FROM 1 FOR 16);
    e.payload_digest := walaudit.chain_payload_digest(e);
    e.hash := walaudit.chain_hash(e);
    e.recorded_at := clock_timestamp();
    INSERT INTO walaudit.event_log SELECT e.*;
    -- It completed a block of the Merkle tree (12_merkle_tree.sql).
    IF e.seq % 256 = 0 THEN
        PERFORM walaudit.tree_extend();
    END IF;
    RETURN e.seq;
END
$$;
