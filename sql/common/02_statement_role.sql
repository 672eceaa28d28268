-- walaudit, both databases: who is calling.
--
-- The role a statement runs as. Inside walaudit's SECURITY DEFINER
-- functions current_user is walaudit's owner, so the effective role is
-- read from the session: the role set by SET ROLE, else the session user.
-- The source records it in actor messages, the store in POLICY events and
-- the access log. No SET clause, so that it can be inlined into the actor
-- trigger's plan (it runs once per audited statement); every call is
-- schema-qualified instead.
CREATE OR REPLACE FUNCTION walaudit.statement_role() RETURNS text
    LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user::text
                ELSE pg_catalog.current_setting('role') END
$$;
GRANT EXECUTE ON FUNCTION walaudit.statement_role() TO PUBLIC;
