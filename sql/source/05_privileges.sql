-- walaudit, source database: who may do what.
--
-- Any role may call pg_logical_emit_message by default, which would let it
-- forge actor messages; only walaudit's SECURITY DEFINER functions need it.
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, text) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_logical_emit_message(boolean, text, bytea) FROM PUBLIC;

-- Every role that writes to an attached table passes through the actor
-- trigger, so the schema must be usable and set_actor callable by all
-- (statement_role is too: sql/common/02_statement_role.sql).
-- The source's objects are named one by one: when the audit store shares
-- the database, its objects keep the privileges the store's own files give
-- them, whatever the order in which setup runs.
GRANT USAGE ON SCHEMA walaudit TO PUBLIC;
REVOKE ALL ON SEQUENCE walaudit.baseline_ids, walaudit.actor_seal_key_1, walaudit.actor_seal_key_2 FROM PUBLIC;
-- The actor seal's key is its owner's alone: a role that could read it
-- could forge the trigger's memory, and ALTER DEFAULT PRIVILEGES ... ON
-- SEQUENCES (common for serial columns) grants new sequences to roles by
-- name, which the line above does not touch.
DO $$
DECLARE
    grant_ record;
BEGIN
    FOR grant_ IN
        SELECT DISTINCT c.oid::regclass AS sequence, a.grantee::regrole AS grantee
        FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
        WHERE c.oid IN ('walaudit.actor_seal_key_1'::regclass, 'walaudit.actor_seal_key_2'::regclass)
          AND a.grantee <> c.relowner AND a.grantee <> 0
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON SEQUENCE %s FROM %s CASCADE', grant_.sequence, grant_.grantee);
    END LOOP;
END
$$;
REVOKE ALL ON walaudit.capture_tables, walaudit.ddl_log, walaudit.attached_tables FROM PUBLIC;
REVOKE ALL ON FUNCTION walaudit.actor_message(), walaudit.capture_actor(), walaudit.set_actor(text, jsonb),
    walaudit.attach(regclass, text[], text[], boolean), walaudit.detach(regclass),
    walaudit.baseline(regclass), walaudit.check_capturable(regclass, text), walaudit.descendants(regclass),
    walaudit.prepare_capture(regclass), walaudit.sync_members(), walaudit.baseline_mark(text), walaudit.attached_table_of(oid, oid),
    walaudit.record_ddl(oid, text, text, text), walaudit.log_ddl(), walaudit.log_drop() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.set_actor(text, jsonb) TO PUBLIC;
GRANT SELECT ON walaudit.attached_tables TO walaudit_reader, walaudit_admin;
-- The worker marks its baseline reads in the stream.
GRANT EXECUTE ON FUNCTION walaudit.baseline_mark(text) TO walaudit_writer;
