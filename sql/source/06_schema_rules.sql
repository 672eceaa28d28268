-- walaudit, source database: whole schemas (schema rules).
--
-- A rule (walaudit.schema_rules, sql/source/01_capture_tables.sql) says
-- that every table of a schema is attached, with the same settings, now
-- and created later, except the tables it excludes by name. attach_schema
-- makes the rule and attaches the tables there now; the event trigger
-- below attaches each new one in the transaction that creates it, before
-- its first row can commit. Each table is attached by walaudit.attach, so
-- the trail sees nothing new: attaches, as if the DBA had typed them.

-- Whether the rule on schema `nsp` leaves `tbl` out: it, or a table it is
-- a partition or inheritance child of (at any depth), is in that schema
-- and named in `exclude_tables`.
CREATE OR REPLACE FUNCTION walaudit.schema_rule_excludes(nsp oid, exclude_tables text[], tbl oid)
    RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    WITH RECURSIVE up(relid) AS (
        SELECT tbl
        UNION
        SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.relid
    )
    SELECT EXISTS (SELECT 1 FROM up JOIN pg_class c ON c.oid = up.relid
                   WHERE c.relnamespace = nsp AND c.relname::text = ANY (exclude_tables))
$$;

-- Attaches one table of a ruled schema with the rule's settings, unless
-- the rule leaves it out, it is no table (views, materialized views,
-- foreign tables), or it is captured already (a partition or child of an
-- attached table is, under that table's name). The rule's excluded and
-- masked columns apply as far as the table has them. An UNLOGGED table
-- is refused: the rule cannot capture it, and must not pass it over in
-- silence. Returns what it did, NULL for nothing.
CREATE OR REPLACE FUNCTION walaudit.apply_schema_rule(nsp oid, tbl regclass)
    RETURNS text
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    rule record;
    rel record;
    has_columns text[];
BEGIN
    SELECT * INTO rule FROM walaudit.schema_rules r WHERE r.schema_oid = nsp;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT c.relkind, c.relpersistence, c.relnamespace INTO rel FROM pg_class c WHERE c.oid = tbl;
    IF NOT FOUND OR rel.relnamespace <> nsp OR rel.relkind NOT IN ('r', 'p') OR rel.relpersistence = 't'
       OR walaudit.schema_rule_excludes(nsp, rule.exclude_tables, tbl) THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM walaudit.capture_tables t WHERE t.relid = tbl AND t.root_relid IS NULL) THEN
        RETURN 'attached already; keeps its own settings';
    END IF;
    -- A partition or child of an attached table is (or, while attach or
    -- sync_members prepares it, is about to be) captured under its name.
    IF EXISTS (WITH RECURSIVE up(relid) AS (
                   SELECT tbl::oid
                   UNION
                   SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.relid)
               SELECT 1 FROM up JOIN walaudit.capture_tables t ON t.relid = up.relid) THEN
        RETURN NULL;
    END IF;
    IF rel.relpersistence = 'u' THEN
        RAISE EXCEPTION '% is UNLOGGED: its changes are not in the write-ahead log, so the walaudit rule on schema % cannot capture them',
            tbl, quote_ident((SELECT nspname FROM pg_namespace WHERE oid = nsp))
            USING HINT = format('Exclude it from the rule (walaudit.attach_schema(%L, exclude_tables => ...), '
                                'walaudit attach --schema ... --exclude-table ...), or make it a logged table.',
                                (SELECT nspname FROM pg_namespace WHERE oid = nsp));
    END IF;
    has_columns := ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = tbl AND a.attnum > 0 AND NOT a.attisdropped);
    PERFORM walaudit.attach(tbl,
                            ARRAY(SELECT col FROM unnest(rule.exclude_columns) AS col WHERE col = ANY (has_columns)),
                            ARRAY(SELECT col FROM unnest(rule.mask_columns) AS col WHERE col = ANY (has_columns)),
                            rule.baseline);
    RETURN CASE WHEN (SELECT t.baseline_id IS NOT NULL FROM walaudit.capture_tables t WHERE t.relid = tbl) THEN 'attached'
                WHEN rule.baseline THEN 'attached without a baseline (it has no primary key)'
                ELSE 'attached without a baseline' END;
END
$$;

-- Attaches every table of `schema`, now and created later (by CREATE
-- TABLE, CREATE TABLE AS, SELECT INTO, or moved in by ALTER TABLE ... SET
-- SCHEMA), except those named in `exclude_tables` (with their partitions
-- and children). A partitioned table or inheritance parent is attached
-- whole, so its partitions and children are not attached apart. Each table
-- gets `exclude_columns` and `mask_columns` as far as it has them, and a
-- baseline unless `baseline` is false (or it has no primary key). Views,
-- materialized views and foreign tables are no tables of the rule; an
-- UNLOGGED table refuses the whole rule unless it is excluded. Tables
-- attached already keep their own settings. Calling it again replaces the
-- rule. Returns each table attached on its own, with what was done.
CREATE OR REPLACE FUNCTION walaudit.attach_schema(schema name, exclude_tables text[] DEFAULT '{}', exclude_columns text[] DEFAULT '{}',
                                                  mask_columns text[] DEFAULT '{}', baseline boolean DEFAULT true)
    RETURNS TABLE (attached_table regclass, outcome text)
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    nsp oid;
    member record;
    unlogged text;
BEGIN
    SELECT n.oid INTO nsp FROM pg_namespace n WHERE n.nspname = attach_schema.schema;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema % does not exist', quote_ident(attach_schema.schema);
    END IF;
    IF attach_schema.schema = 'walaudit' OR attach_schema.schema = 'information_schema' OR attach_schema.schema LIKE 'pg\_%' THEN
        RAISE EXCEPTION 'walaudit''s own schema and the system schemas cannot be attached';
    END IF;
    INSERT INTO walaudit.schema_rules AS r (schema_oid, exclude_tables, exclude_columns, mask_columns, baseline)
    VALUES (nsp, coalesce(attach_schema.exclude_tables, '{}'), coalesce(attach_schema.exclude_columns, '{}'),
            coalesce(attach_schema.mask_columns, '{}'), coalesce(attach_schema.baseline, true))
    ON CONFLICT (schema_oid) DO UPDATE
        SET exclude_tables = EXCLUDED.exclude_tables, exclude_columns = EXCLUDED.exclude_columns,
            mask_columns = EXCLUDED.mask_columns, baseline = EXCLUDED.baseline,
            created_at = EXCLUDED.created_at, created_by = EXCLUDED.created_by;
    -- All the UNLOGGED tables in one message (apply_schema_rule would name the first).
    SELECT string_agg(c.oid::regclass::text, ', ' ORDER BY c.relname) INTO unlogged
    FROM pg_class c
    WHERE c.relnamespace = nsp AND c.relkind IN ('r', 'p') AND c.relpersistence = 'u'
      AND NOT walaudit.schema_rule_excludes(nsp, coalesce(attach_schema.exclude_tables, '{}'), c.oid);
    IF unlogged IS NOT NULL THEN
        RAISE EXCEPTION 'schema % has UNLOGGED tables, whose changes are not in the write-ahead log: %', quote_ident(attach_schema.schema), unlogged
            USING HINT = 'Exclude them from the rule (exclude_tables; walaudit attach --schema ... --exclude-table ...), '
                         'or ALTER TABLE ... SET LOGGED each.';
    END IF;
    -- The DDL that attach runs must not fire the rule's event trigger.
    PERFORM set_config('walaudit.applying_schema_rules', 'on', true);
    -- Parents before their partitions and children, which attaching them covers.
    FOR member IN
        SELECT c.oid FROM pg_class c
        WHERE c.relnamespace = nsp AND c.relkind IN ('r', 'p')
        ORDER BY (WITH RECURSIVE up(relid, depth) AS (
                      SELECT c.oid, 0
                      UNION
                      SELECT i.inhparent, up.depth + 1 FROM pg_inherits i JOIN up ON i.inhrelid = up.relid)
                  SELECT max(depth) FROM up), c.relname
    LOOP
        outcome := walaudit.apply_schema_rule(nsp, member.oid);
        CONTINUE WHEN outcome IS NULL;
        attached_table := member.oid;
        RETURN NEXT;
    END LOOP;
    PERFORM set_config('walaudit.applying_schema_rules', 'off', true);
END
$$;

-- Ends the rule on `schema`: tables created there later are not attached.
-- The tables it attached stay attached, unless `detach_tables`: then each
-- table of the schema the rule covered that is attached on its own is
-- detached (with its partitions and children). Returns the tables detached.
CREATE OR REPLACE FUNCTION walaudit.detach_schema(schema name, detach_tables boolean DEFAULT false)
    RETURNS SETOF regclass
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    rule record;
    member record;
BEGIN
    DELETE FROM walaudit.schema_rules r USING pg_namespace n
    WHERE n.oid = r.schema_oid AND n.nspname = detach_schema.schema
    RETURNING r.* INTO rule;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'schema % has no walaudit rule', quote_ident(detach_schema.schema)
            USING HINT = 'SELECT schema_oid::regnamespace FROM walaudit.schema_rules lists the schemas that have one.';
    END IF;
    IF NOT detach_tables THEN
        RETURN;
    END IF;
    FOR member IN
        SELECT t.relid FROM walaudit.capture_tables t JOIN pg_class c ON c.oid = t.relid
        WHERE t.root_relid IS NULL AND c.relnamespace = rule.schema_oid
          AND NOT walaudit.schema_rule_excludes(rule.schema_oid, rule.exclude_tables, t.relid)
        ORDER BY c.relname
    LOOP
        PERFORM walaudit.detach(member.relid);
        RETURN NEXT member.relid;
    END LOOP;
END
$$;

-- ddl_command_end: attaches each table a command created in a ruled schema
-- or moved into one (or renamed out of its exclusions). It runs after
-- walaudit_ddl (event triggers of one event fire in name order), whose
-- sync_members has captured a new partition or child of an attached table
-- already; those are skipped. The DDL that attach runs fires this trigger
-- again: the transaction-local flag makes that a no-op.
CREATE OR REPLACE FUNCTION walaudit.apply_schema_rules() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    cmd record;
    outcome text;
BEGIN
    IF current_setting('walaudit.applying_schema_rules', true) = 'on' THEN
        RETURN;
    END IF;
    PERFORM set_config('walaudit.applying_schema_rules', 'on', true);
    FOR cmd IN
        SELECT DISTINCT d.objid, r.schema_oid FROM pg_event_trigger_ddl_commands() d
        JOIN pg_class c ON c.oid = d.objid JOIN walaudit.schema_rules r ON r.schema_oid = c.relnamespace
        WHERE d.classid = 'pg_class'::regclass AND d.objsubid = 0
          AND d.command_tag IN ('CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE')
    LOOP
        outcome := walaudit.apply_schema_rule(cmd.schema_oid, cmd.objid::regclass);
        IF outcome LIKE 'attached%' AND outcome NOT LIKE 'attached already%' THEN
            RAISE NOTICE 'walaudit: % %, by the rule on schema %', cmd.objid::regclass, outcome,
                quote_ident((SELECT nspname FROM pg_namespace WHERE oid = cmd.schema_oid));
        END IF;
    END LOOP;
    PERFORM set_config('walaudit.applying_schema_rules', 'off', true);
END
$$;

-- sql_drop: a dropped schema's rule goes with it.
CREATE OR REPLACE FUNCTION walaudit.drop_schema_rules() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
BEGIN
    DELETE FROM walaudit.schema_rules r USING pg_event_trigger_dropped_objects() o
    WHERE o.classid = 'pg_namespace'::regclass AND o.objid = r.schema_oid;
END
$$;

DROP EVENT TRIGGER IF EXISTS walaudit_schema_rules;
DROP EVENT TRIGGER IF EXISTS walaudit_schema_rules_drop;
CREATE EVENT TRIGGER walaudit_schema_rules ON ddl_command_end EXECUTE FUNCTION walaudit.apply_schema_rules();
CREATE EVENT TRIGGER walaudit_schema_rules_drop ON sql_drop EXECUTE FUNCTION walaudit.drop_schema_rules();
ALTER EVENT TRIGGER walaudit_schema_rules ENABLE ALWAYS;
ALTER EVENT TRIGGER walaudit_schema_rules_drop ENABLE ALWAYS;

-- Privileges, as sql/source/05_privileges.sql gives those of attach (it runs before this file).
REVOKE ALL ON walaudit.schema_rules FROM PUBLIC;
GRANT SELECT ON walaudit.schema_rules TO walaudit_reader, walaudit_admin;
REVOKE ALL ON FUNCTION walaudit.schema_rule_excludes(oid, text[], oid), walaudit.apply_schema_rule(oid, regclass),
    walaudit.attach_schema(name, text[], text[], text[], boolean), walaudit.detach_schema(name, boolean),
    walaudit.apply_schema_rules(), walaudit.drop_schema_rules() FROM PUBLIC;
