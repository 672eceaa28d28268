-- walaudit, source database: DDL on attached tables becomes DDL events.
--
-- Event triggers write walaudit.ddl_log; its INSERTs reach the worker
-- through the stream in commit order. Disabling or dropping the actor
-- trigger is DDL on the table, so it cannot pass unseen.

-- The table a DDL command touched, if it is attached: the object itself,
-- or the table behind an index or a trigger.
CREATE FUNCTION walaudit.attached_table_of(classid oid, objid oid) RETURNS oid
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    SELECT t.relid FROM walaudit.capture_tables t
    WHERE t.relid = CASE
        WHEN classid = 'pg_class'::regclass THEN coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = objid), objid)
        WHEN classid = 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = objid)
    END
$$;

-- ddl_command_end: logs commands on attached tables.
CREATE FUNCTION walaudit.log_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    cmd record;
    attached oid;
BEGIN
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        attached := walaudit.attached_table_of(cmd.classid, cmd.objid);
        CONTINUE WHEN attached IS NULL;
        INSERT INTO walaudit.ddl_log (command_tag, object_type, object_identity, schema_name, table_name, role_name)
        SELECT cmd.command_tag, cmd.object_type, cmd.object_identity, t.schema_name, t.table_name, walaudit.statement_role()
        FROM walaudit.capture_tables t WHERE t.relid = attached;
        -- A rename changes the names the stream will carry.
        UPDATE walaudit.capture_tables t SET schema_name = n.nspname, table_name = c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE t.relid = attached AND c.oid = attached AND (t.schema_name, t.table_name) IS DISTINCT FROM (n.nspname, c.relname);
    END LOOP;
END
$$;

-- sql_drop: a dropped attached table is logged and detached.
CREATE FUNCTION walaudit.log_drop() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT * FROM pg_event_trigger_dropped_objects() WHERE classid = 'pg_class'::regclass AND objsubid = 0 LOOP
        INSERT INTO walaudit.ddl_log (command_tag, object_type, object_identity, schema_name, table_name, role_name)
        SELECT tg_tag, obj.object_type, obj.object_identity, t.schema_name, t.table_name, walaudit.statement_role()
        FROM walaudit.capture_tables t WHERE t.relid = obj.objid;
        DELETE FROM walaudit.capture_tables WHERE relid = obj.objid;
    END LOOP;
END
$$;

CREATE EVENT TRIGGER walaudit_ddl ON ddl_command_end EXECUTE FUNCTION walaudit.log_ddl();
CREATE EVENT TRIGGER walaudit_drop ON sql_drop EXECUTE FUNCTION walaudit.log_drop();
ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER walaudit_drop ENABLE ALWAYS;
