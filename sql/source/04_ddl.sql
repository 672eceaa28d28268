-- walaudit, source database: DDL on attached tables becomes DDL events.
--
-- Event triggers write walaudit.ddl_log; its INSERTs reach the worker
-- through the stream in commit order. Disabling or dropping the actor
-- trigger is DDL on the table, so it cannot pass unseen.

-- The table a DDL command touched, if it is attached: the object itself,
-- or the table behind an index or a trigger.
CREATE OR REPLACE FUNCTION walaudit.attached_table_of(classid oid, objid oid) RETURNS oid
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    SELECT t.relid FROM walaudit.capture_tables t
    WHERE t.relid = CASE
        WHEN classid = 'pg_class'::regclass THEN coalesce((SELECT indrelid FROM pg_index WHERE indexrelid = objid), objid)
        WHEN classid = 'pg_trigger'::regclass THEN (SELECT tgrelid FROM pg_trigger WHERE oid = objid)
    END
$$;

-- Records a DDL command on an attached table in ddl_log, by its names as
-- capture_tables holds them and the role of the statement. Called by the
-- event trigger functions below.
CREATE OR REPLACE FUNCTION walaudit.record_ddl(attached oid, command_tag text, object_type text, object_identity text)
    RETURNS void
    LANGUAGE sql SET search_path = pg_catalog
AS $$
    INSERT INTO walaudit.ddl_log (command_tag, object_type, object_identity, schema_name, table_name, role_name)
    SELECT command_tag, object_type, object_identity, t.schema_name, t.table_name, walaudit.statement_role()
    FROM walaudit.capture_tables t WHERE t.relid = attached
$$;

-- ddl_command_end: keeps the partitions and children of attached tables
-- captured (a new partition is captured before its first row), logs
-- commands on attached tables, and refuses what would let their changes
-- escape capture.
CREATE OR REPLACE FUNCTION walaudit.log_ddl() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    cmd record;
    attached oid;
    unlogged text;
    unseen text[] := '{}';
BEGIN
    -- Logged under the names the table had (a rename is logged under its old one) ...
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() LOOP
        attached := walaudit.attached_table_of(cmd.classid, cmd.objid);
        IF attached IS NULL THEN
            unseen := unseen || format('%s/%s', cmd.classid, cmd.objid);
        ELSE
            PERFORM walaudit.record_ddl(attached, cmd.command_tag, cmd.object_type, cmd.object_identity);
        END IF;
    END LOOP;
    PERFORM walaudit.sync_members();
    -- ... and a new partition or child, once it is captured, under its attached table's.
    FOR cmd IN SELECT * FROM pg_event_trigger_ddl_commands() c WHERE format('%s/%s', c.classid, c.objid) = ANY (unseen) LOOP
        attached := walaudit.attached_table_of(cmd.classid, cmd.objid);
        CONTINUE WHEN attached IS NULL;
        PERFORM walaudit.record_ddl(attached, cmd.command_tag, cmd.object_type, cmd.object_identity);
    END LOOP;
    -- Refused, so that no change escapes capture unseen: an attached table
    -- turned UNLOGGED (its changes would leave the WAL).
    SELECT string_agg(t.relid::regclass::text, ', ') INTO unlogged
    FROM walaudit.capture_tables t JOIN pg_class c ON c.oid = t.relid WHERE c.relpersistence <> 'p';
    IF unlogged IS NOT NULL THEN
        RAISE EXCEPTION 'walaudit: % is attached, and an UNLOGGED table''s changes are not in the write-ahead log', unlogged
            USING HINT = 'Detach it first (walaudit detach), which records a GAP in the trail.';
    END IF;
END
$$;

-- sql_drop: a dropped attached table (or partition, or child) is logged and
-- let go; dropping an attached table lets its partitions go with it.
CREATE OR REPLACE FUNCTION walaudit.log_drop() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
    PERFORM walaudit.record_ddl(o.objid, tg_tag, o.object_type, o.object_identity)
    FROM pg_event_trigger_dropped_objects() o WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0;
    DELETE FROM walaudit.capture_tables t USING pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND (t.relid = o.objid OR t.root_relid = o.objid);
END
$$;

-- Event triggers have no CREATE OR REPLACE; dropping and creating them in
-- setup's transaction leaves no moment without them.
DROP EVENT TRIGGER IF EXISTS walaudit_ddl;
DROP EVENT TRIGGER IF EXISTS walaudit_drop;
CREATE EVENT TRIGGER walaudit_ddl ON ddl_command_end EXECUTE FUNCTION walaudit.log_ddl();
CREATE EVENT TRIGGER walaudit_drop ON sql_drop EXECUTE FUNCTION walaudit.log_drop();
ALTER EVENT TRIGGER walaudit_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER walaudit_drop ENABLE ALWAYS;
