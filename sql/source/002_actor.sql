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
CREATE FUNCTION walaudit.actor_message() RETURNS text
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    SELECT json_build_object(
        'v', 1,
        'xid', pg_current_xact_id()::text,
        'session_user', session_user,
        'role', walaudit.statement_role(),
        'app_user', nullif(current_setting('walaudit.actor', true), ''),
        'app_context', coalesce(nullif(current_setting('walaudit.context', true), ''), '{}')::json,
        'application_name', current_setting('application_name'),
        'client_addr', inet_client_addr(),
        'client_port', inet_client_port(),
        'pid', pg_backend_pid()
    )::text
$$;

-- Trigger function on attached tables (ENABLE ALWAYS, so
-- session_replication_role = replica does not silence it). SECURITY
-- DEFINER so that ordinary roles need no right to emit messages.
CREATE FUNCTION walaudit.capture_actor() RETURNS trigger
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
CREATE FUNCTION walaudit.set_actor(actor text, context jsonb DEFAULT '{}')
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM set_config('walaudit.actor', coalesce(actor, ''), true);
    PERFORM set_config('walaudit.context', coalesce(context, '{}'::jsonb)::text, true);
END
$$;
