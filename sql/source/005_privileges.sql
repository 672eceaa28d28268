-- walaudit, source database: who may do what.
--
-- Any role may call pg_logical_emit_message by default, which would let it
-- forge actor messages; only walaudit's SECURITY DEFINER functions need it.
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;

-- Every role that writes to an attached table passes through the actor
-- trigger, so the schema must be usable and set_actor callable by all.
GRANT USAGE ON SCHEMA walaudit TO PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA walaudit FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA walaudit FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.set_actor(text, jsonb) TO PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.statement_role() TO PUBLIC;
GRANT SELECT ON walaudit.attached_tables TO walaudit_reader, walaudit_admin;
