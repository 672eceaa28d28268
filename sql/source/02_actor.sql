-- walaudit, source database: who made a change.
--
-- A BEFORE ... FOR EACH STATEMENT trigger on every attached table emits a
-- transactional logical message ('walaudit.actor') right before the
-- statement's changes, so every change in the stream is preceded by the
-- actor of its own statement. Emitting per statement (not once per
-- transaction) means no earlier message can stand in for a later actor.

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
CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM pg_logical_emit_message(true, 'walaudit.actor', walaudit.actor_message());
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
