-- walaudit, source database: attach and detach tables.

-- Refuses a table whose changes the WAL does not carry (or carries under
-- names nobody attached): nothing is accepted and then silently not
-- captured. `what` says how the table came in ("partition of x").
CREATE OR REPLACE FUNCTION walaudit.check_capturable(tbl regclass, what text DEFAULT NULL)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    rel record;
    label text := coalesce(what || ' ', '') || tbl::text;
BEGIN
    SELECT c.relkind, c.relpersistence, n.nspname INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    IF rel.relkind IN ('v', 'm', 'f') THEN
        RAISE EXCEPTION '% is a %: its changes are not in the write-ahead log, so walaudit cannot capture them', label,
            CASE rel.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END
            USING HINT = CASE rel.relkind WHEN 'v' THEN 'Attach the tables the view reads.'
                                          WHEN 'm' THEN 'Attach the tables it is refreshed from.'
                                          ELSE 'Audit it on the server that holds its data.' END;
    END IF;
    IF rel.relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'walaudit can attach tables only; % is not one', label;
    END IF;
    IF rel.relpersistence = 'u' THEN
        RAISE EXCEPTION '% is UNLOGGED: its changes are not in the write-ahead log, so walaudit would capture none of them', label
            USING HINT = format('ALTER TABLE %s SET LOGGED, then attach it.', tbl);
    END IF;
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION '% is a temporary table: logical decoding does not carry its changes', label
            USING HINT = 'Audit a permanent table.';
    END IF;
    IF rel.nspname = 'walaudit' THEN
        RAISE EXCEPTION 'walaudit''s own tables cannot be attached';
    END IF;
END
$$;

-- The partitions (at any depth) and inheritance children of `tbl`, with
-- how each came in.
CREATE OR REPLACE FUNCTION walaudit.descendants(tbl regclass)
    RETURNS TABLE (relid oid, how text)
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    WITH RECURSIVE tree(relid, parent) AS (
        SELECT i.inhrelid, i.inhparent FROM pg_inherits i WHERE i.inhparent = tbl
        UNION
        SELECT i.inhrelid, i.inhparent FROM pg_inherits i JOIN tree ON i.inhparent = tree.relid
    )
    SELECT tree.relid, CASE WHEN c.relispartition THEN 'partition of ' ELSE 'inheritance child of ' END || tree.parent::regclass::text
    FROM tree JOIN pg_class c ON c.oid = tree.relid
$$;

-- Makes one table's changes carry their actor: full old images (REPLICA
-- IDENTITY FULL) and the actor trigger, which fires for statements naming
-- this table (a statement on a partitioned table fires its own trigger,
-- not its partitions').
CREATE OR REPLACE FUNCTION walaudit.prepare_capture(tbl regclass)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    IF (SELECT relkind FROM pg_class WHERE oid = tbl) = 'r' THEN
        EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', tbl);
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'walaudit_actor') THEN
        EXECUTE format('CREATE TRIGGER walaudit_actor BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION walaudit.capture_actor()', tbl);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER walaudit_actor', tbl);
END
$$;

-- Brings the partitions and inheritance children of every attached table
-- in line with the catalog: new ones are prepared and captured under the
-- attached table's name, detached or disinherited ones are let go, renamed
-- ones keep their stream names right. Run by attach and by the DDL event
-- trigger after every command; the transaction-local flag keeps the DDL it
-- runs itself from running it again.
CREATE OR REPLACE FUNCTION walaudit.sync_members()
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    member record;
    has_rows boolean;
BEGIN
    IF current_setting('walaudit.syncing', true) = 'on' THEN
        RETURN;
    END IF;
    PERFORM set_config('walaudit.syncing', 'on', true);
    FOR member IN
        SELECT d.relid, d.how, r.relid AS root FROM walaudit.capture_tables r, walaudit.descendants(r.relid) d
        WHERE r.root_relid IS NULL AND NOT EXISTS (SELECT 1 FROM walaudit.capture_tables t WHERE t.relid = d.relid)
    LOOP
        PERFORM walaudit.check_capturable(member.relid, member.how || ', which is attached:');
        PERFORM walaudit.prepare_capture(member.relid);
        INSERT INTO walaudit.capture_tables (relid, schema_name, table_name, relation_schema, relation_table, root_relid,
                                             key_columns, exclude_columns, mask_columns)
        SELECT member.relid, r.schema_name, r.table_name, n.nspname, c.relname, r.relid,
               r.key_columns, r.exclude_columns, r.mask_columns
        FROM walaudit.capture_tables r, pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE r.relid = member.root AND c.oid = member.relid;
        -- The trail names each table that joins (or leaves, below) an attached one.
        PERFORM walaudit.record_ddl(member.relid, 'WALAUDIT CAPTURE', member.how, member.relid::regclass::text);
        -- A table that joins with rows (ATTACH PARTITION, INHERIT) brings
        -- them without a change event: the worker records them as a baseline.
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM ONLY %s)', member.relid::regclass) INTO has_rows;
        IF has_rows AND current_setting('walaudit.attaching', true) IS DISTINCT FROM 'on'
           AND (SELECT key_columns <> '{}' FROM walaudit.capture_tables WHERE relid = member.relid) THEN
            UPDATE walaudit.capture_tables SET baseline_id = nextval('walaudit.baseline_ids') WHERE relid = member.relid;
        END IF;
    END LOOP;
    FOR member IN
        SELECT t.relid FROM walaudit.capture_tables t
        WHERE t.root_relid IS NOT NULL AND t.relid NOT IN (SELECT d.relid FROM walaudit.descendants(t.root_relid) d)
    LOOP
        -- Its rows leave the attached table by this DDL, not row by row.
        PERFORM walaudit.record_ddl(member.relid, 'WALAUDIT RELEASE', 'no longer a partition or child', member.relid::regclass::text);
        DELETE FROM walaudit.capture_tables WHERE relid = member.relid;
        EXECUTE format('DROP TRIGGER IF EXISTS walaudit_actor ON %s', member.relid::regclass);
    END LOOP;
    -- Renames: the stream carries a table's own name; events carry the attached table's.
    UPDATE walaudit.capture_tables t SET relation_schema = n.nspname, relation_table = c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.oid = t.relid AND (t.relation_schema, t.relation_table) IS DISTINCT FROM (n.nspname, c.relname);
    UPDATE walaudit.capture_tables t SET schema_name = r.relation_schema, table_name = r.relation_table
    FROM walaudit.capture_tables r
    WHERE r.relid = coalesce(t.root_relid, t.relid) AND (t.schema_name, t.table_name) IS DISTINCT FROM (r.relation_schema, r.relation_table);
    PERFORM set_config('walaudit.syncing', 'off', true);
END
$$;

-- Starts auditing a table. A partitioned table or an inheritance parent is
-- audited whole: its partitions (any depth) and children, present and
-- future, are captured under its name. Each gets full old images (REPLICA
-- IDENTITY FULL) and the actor trigger, and a row in capture_tables whose
-- change in the stream tells the worker where auditing starts. Excluded
-- columns never reach the audit store; masked columns are stored as a
-- keyed hash. With `baseline` (the default) the worker then records every
-- existing row once as a SNAPSHOT event; that needs a primary key to tell
-- a row's baseline image from its later changes, so a table without one is
-- attached without a baseline, with a notice.
CREATE OR REPLACE FUNCTION walaudit.attach(tbl regclass, exclude_columns text[] DEFAULT '{}', mask_columns text[] DEFAULT '{}',
                                           baseline boolean DEFAULT true)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    rel record;
    missing text;
    keys text[];
    member record;
    empty boolean;
BEGIN
    SELECT c.oid, n.nspname, c.relname INTO rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    PERFORM walaudit.check_capturable(tbl);
    SELECT t.root_relid::regclass::text INTO missing FROM walaudit.capture_tables t WHERE t.relid = tbl AND t.root_relid IS NOT NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '% is captured already, as part of %', tbl, missing
            USING HINT = format('Its changes are recorded under %s''s name; to audit it apart, detach %s first.', missing, missing);
    END IF;
    SELECT string_agg(t.relid::regclass::text, ', ') INTO missing
    FROM walaudit.descendants(tbl) d JOIN walaudit.capture_tables t ON t.relid = d.relid AND t.root_relid IS NULL;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '% cannot be attached whole while its partitions or children % are attached on their own', tbl, missing
            USING HINT = 'Detach them first (their history stays under their own names).';
    END IF;
    FOR member IN SELECT * FROM walaudit.descendants(tbl) LOOP
        PERFORM walaudit.check_capturable(member.relid, member.how || ':');
    END LOOP;
    SELECT string_agg(quote_ident(col), ', ') INTO missing
    FROM unnest(coalesce(exclude_columns, '{}') || coalesce(mask_columns, '{}')) AS col
    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no such column in %: %', tbl, missing;
    END IF;
    keys := ARRAY(SELECT a.attname::text FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                  WHERE i.indrelid = tbl AND i.indisprimary
                  ORDER BY array_position(i.indkey::int2[], a.attnum));
    IF baseline AND keys = '{}' THEN
        RAISE NOTICE '% has no primary key, so a baseline of its rows could not be told apart from their later changes: it is attached without one, and its history starts with its first change', tbl
            USING HINT = 'Add a primary key, then take a baseline (walaudit baseline).';
        baseline := false;
    END IF;

    PERFORM walaudit.prepare_capture(tbl);
    FOR member IN SELECT * FROM walaudit.descendants(tbl) LOOP
        PERFORM walaudit.prepare_capture(member.relid);
    END LOOP;
    -- An empty table needs no baseline: its history is complete from here.
    -- Exact: the triggers' locks just taken keep writers out until commit.
    -- baseline_id 0 says so; the worker reads nothing.
    EXECUTE format('SELECT NOT EXISTS (SELECT 1 FROM %s)', tbl) INTO empty;
    INSERT INTO walaudit.capture_tables (relid, schema_name, table_name, relation_schema, relation_table,
                                         key_columns, exclude_columns, mask_columns, baseline_id)
    VALUES (tbl, rel.nspname, rel.relname, rel.nspname, rel.relname, keys,
            coalesce(exclude_columns, '{}'), coalesce(mask_columns, '{}'),
            CASE WHEN baseline AND empty THEN 0 WHEN baseline THEN nextval('walaudit.baseline_ids') END)
    ON CONFLICT (relid) DO UPDATE
        SET exclude_columns = EXCLUDED.exclude_columns, attached_by = EXCLUDED.attached_by, attached_role = EXCLUDED.attached_role,
            mask_columns = EXCLUDED.mask_columns, key_columns = EXCLUDED.key_columns,
            -- Attaching again after a gap starts the table's history anew.
            baseline_id = CASE WHEN capture_tables.gap_since IS NOT NULL THEN EXCLUDED.baseline_id ELSE capture_tables.baseline_id END,
            gap_since = NULL;
    -- Partitions and children follow their attached table's settings; their
    -- rows are in the attached table's baseline.
    PERFORM set_config('walaudit.attaching', 'on', true);
    UPDATE walaudit.capture_tables t SET key_columns = r.key_columns, exclude_columns = r.exclude_columns, mask_columns = r.mask_columns
    FROM walaudit.capture_tables r
    WHERE r.relid = tbl AND t.root_relid = tbl
      AND (t.key_columns, t.exclude_columns, t.mask_columns) IS DISTINCT FROM (r.key_columns, r.exclude_columns, r.mask_columns);
    PERFORM walaudit.sync_members();
    PERFORM set_config('walaudit.attaching', 'off', true);
END
$$;

-- Records every existing row of an attached table again as SNAPSHOT events
-- (e.g. after a GAP); its history for reports starts anew there.
CREATE OR REPLACE FUNCTION walaudit.baseline(tbl regclass)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM walaudit.capture_tables WHERE relid = tbl AND key_columns = '{}') THEN
        RAISE EXCEPTION '% has no primary key, so a baseline of its rows could not be told apart from their later changes', tbl
            USING HINT = 'Add a primary key, then attach it again.';
    END IF;
    UPDATE walaudit.capture_tables SET baseline_id = nextval('walaudit.baseline_ids'), gap_since = NULL,
        attached_by = session_user, attached_role = current_user
    WHERE relid = tbl AND root_relid IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not attached', tbl
            USING HINT = CASE WHEN EXISTS (SELECT 1 FROM walaudit.capture_tables WHERE relid = tbl)
                              THEN 'It is captured as part of an attached table: take the baseline of that one.' END;
    END IF;
END
$$;

-- The worker's mark after reading a chunk of baseline rows: a
-- non-transactional logical message, so it sits in the stream exactly at
-- its place in the WAL (after every transaction the read could see, before
-- every one it could not), followed by a transactional one whose commit
-- flushes it to the walsender at once. Returns the mark's LSN.
CREATE OR REPLACE FUNCTION walaudit.baseline_mark(content text)
    RETURNS pg_lsn
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    mark pg_lsn;
BEGIN
    mark := pg_logical_emit_message(false, 'walaudit.baseline', content);
    PERFORM pg_logical_emit_message(true, 'walaudit.flush', '');
    RETURN mark;
END
$$;

-- Stops auditing a table (with its partitions or children); its later
-- changes are not captured. The triggers go; the replica identity stays
-- (changing it back could surprise replication set up by others).
CREATE OR REPLACE FUNCTION walaudit.detach(tbl regclass)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    member record;
BEGIN
    IF EXISTS (SELECT 1 FROM walaudit.capture_tables WHERE relid = tbl AND root_relid IS NOT NULL) THEN
        RAISE EXCEPTION '% is captured as part of %, not attached on its own', tbl,
            (SELECT root_relid::regclass FROM walaudit.capture_tables WHERE relid = tbl)
            USING HINT = 'Detach the attached table, or detach the partition from it (ALTER TABLE ... DETACH PARTITION).';
    END IF;
    -- Dropping the triggers is DDL: keep sync_members from capturing the
    -- partitions again while the attached table's row is still there.
    PERFORM set_config('walaudit.syncing', 'on', true);
    FOR member IN DELETE FROM walaudit.capture_tables WHERE root_relid = tbl RETURNING relid LOOP
        EXECUTE format('DROP TRIGGER IF EXISTS walaudit_actor ON %s', member.relid::regclass);
    END LOOP;
    UPDATE walaudit.capture_tables SET detached_by = session_user, detached_role = current_user WHERE relid = tbl;
    DELETE FROM walaudit.capture_tables WHERE relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not attached', tbl;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS walaudit_actor ON %s', tbl);
    PERFORM set_config('walaudit.syncing', 'off', true);
END
$$;
