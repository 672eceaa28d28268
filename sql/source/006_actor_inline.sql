-- walaudit, source database: a cheaper actor message.
--
-- The actor trigger runs once per statement on every attached table, so its
-- cost is the application's cost. A SQL function with its own SET clause
-- (or declared STABLE around volatile calls) is run through the SQL
-- function executor on every call; without them the planner inlines it
-- into the trigger's cached plan. Safe: its only caller,
-- walaudit.capture_actor, fixes search_path, and every call below is
-- schema-qualified anyway.
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
