-- walaudit, source database: who made a change.
--
-- A BEFORE ... FOR EACH STATEMENT trigger on every attached table makes
-- sure the statement's changes are preceded in the stream by a
-- transactional logical message ('walaudit.actor') naming the actor of
-- its own statement: it emits one unless the last one this transaction
-- emitted says exactly that (a message per actor change, not per
-- statement: each is a WAL record the walsender decodes and the worker
-- reads). What was emitted last is remembered in a transaction-local
-- setting; a rolled-back savepoint reverts the setting with the message,
-- so the two never disagree. The setting holds a seal of the actor under a
-- secret only the trigger reads, not the actor: a session that sets it by
-- hand cannot make the trigger skip its own actor.

-- The key of those seals: 128 random bits, one per source database, held
-- as the values of two sequences that only their owner may read (the
-- trigger is SECURITY DEFINER). A sequence's value is read by a function
-- call (pg_sequence_last_value, what the pg_sequences view uses), which
-- plpgsql evaluates as a simple expression; a key in a table took a query,
-- and the executor's start-up for it, at every audited statement
-- (bench/trigger.sh: 47 → 36 µs per statement above no audit).
-- Setup seeds a sequence once (a sequence never set reads as NULL: no
-- seal, every statement emits) and never changes a seeded one; only the
-- owner may read or move them (sql/source/05_privileges.sql revokes what
-- default privileges may have granted). A source set up before (sessions
-- 7-8) keeps the former key table, walaudit.actor_seal_key, unused:
-- dropping it in setup's transaction, while audited statements of the old
-- trigger wait on it, would make them fail. A later upgrade drops it.
CREATE SEQUENCE IF NOT EXISTS walaudit.actor_seal_key_1 MINVALUE -9223372036854775808;
CREATE SEQUENCE IF NOT EXISTS walaudit.actor_seal_key_2 MINVALUE -9223372036854775808;
DO $$
BEGIN
    PERFORM pg_catalog.setval(key, ('x' || pg_catalog.encode(pg_catalog.substr(pg_catalog.sha256(
                pg_catalog.uuid_send(pg_catalog.gen_random_uuid()) || pg_catalog.uuid_send(pg_catalog.gen_random_uuid())), 1, 8), 'hex'))
            ::bit(64)::bigint)
    FROM (VALUES ('walaudit.actor_seal_key_1'::regclass), ('walaudit.actor_seal_key_2'::regclass)) AS keys (key)
    WHERE pg_catalog.pg_sequence_last_value(key) IS NULL;
END
$$;

-- The actor message for the current statement, as JSON text. The xid ties
-- the message to its transaction: with skip-empty-xacts a message may be
-- printed before its transaction's BEGIN.
-- The actor trigger runs once per statement on every attached table, so
-- its cost is the application's cost. A SQL function with its own SET
-- clause (or declared STABLE around volatile calls) goes through the SQL
-- function executor on every call; without them the planner inlines it
-- into the trigger's cached plan. Hence VOLATILE, no SET clause, and every
-- call schema-qualified (its only caller, capture_actor, fixes search_path
-- too).
CREATE OR REPLACE FUNCTION walaudit.actor_message() RETURNS text
    LANGUAGE sql VOLATILE
AS $$
    SELECT pg_catalog.json_build_object(
        'v', 1,
        'xid', pg_catalog.pg_current_xact_id()::text,
        'session_user', session_user,
        'role', walaudit.statement_role(),
        'app_user', nullif(pg_catalog.current_setting('walaudit.actor', true), ''),
        'app_context', coalesce(nullif(pg_catalog.current_setting('walaudit.context', true), ''), '{}')::json,
        'application_name', pg_catalog.current_setting('application_name'),
        'client_addr', pg_catalog.inet_client_addr(),
        'client_port', pg_catalog.inet_client_port(),
        'pid', pg_catalog.pg_backend_pid()
    )::text
$$;

-- Trigger function on attached tables (ENABLE ALWAYS, so
-- session_replication_role = replica does not silence it). SECURITY
-- DEFINER so that ordinary roles need no right to emit messages.
-- The seal covers what can change the actor within a transaction (the
-- login, the role, the application's actor and context, application_name)
-- and binds it to the transaction and the backend (xid, pid), so a seal
-- read from the setting cannot be replayed in another transaction; the
-- message itself, with address and port too, is built only when the seal
-- differs (bench/RESULTS.md, session 8). Every expression here is one
-- plpgsql evaluates without the executor (no subquery, no PERFORM): it is
-- paid at every audited statement. The key is read at each call: folded
-- into a cached plan (an IMMUTABLE reader) it would show in any plan the
-- session prints (debug_print_plan). A key never seeded (a restore without
-- data) reads as NULL, so the seal is NULL: then every statement emits.
CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    seal text;
    emitted pg_lsn;
BEGIN
    seal := encode(sha256(convert_to(pg_sequence_last_value('walaudit.actor_seal_key_1')::text || ','
        || pg_sequence_last_value('walaudit.actor_seal_key_2')::text
        || json_build_array(pg_current_xact_id(), pg_backend_pid(), session_user, walaudit.statement_role(),
                            current_setting('walaudit.actor', true), current_setting('walaudit.context', true),
                            current_setting('application_name'))::text,
        'UTF8')), 'base64');
    IF seal IS NULL OR current_setting('walaudit.emitted_actor', true) IS DISTINCT FROM seal THEN
        emitted := pg_logical_emit_message(true, 'walaudit.actor', walaudit.actor_message());
        seal := set_config('walaudit.emitted_actor', seal, true);
    END IF;
    RETURN NULL;
END
$$;

-- Attributes the rest of the current transaction to an application user
-- (e.g. the person behind a web request) with optional context. The same
-- can be done with SET LOCAL walaudit.actor = '...'.
CREATE OR REPLACE FUNCTION walaudit.set_actor(actor text, context jsonb DEFAULT '{}')
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM set_config('walaudit.actor', coalesce(actor, ''), true);
    PERFORM set_config('walaudit.context', coalesce(context, '{}'::jsonb)::text, true);
END
$$;
