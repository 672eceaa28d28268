-- walaudit, source database: attach and detach tables.

-- Starts auditing a table: full old images (REPLICA IDENTITY FULL), the
-- actor trigger, and a row in capture_tables whose change in the stream
-- tells the worker where auditing starts. Excluded columns never reach the
-- audit store; masked columns are stored as a keyed hash.
CREATE OR REPLACE FUNCTION walaudit.attach(tbl regclass, exclude_columns text[] DEFAULT '{}', mask_columns text[] DEFAULT '{}')
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    rel record;
    missing text;
BEGIN
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.relpersistence INTO rel
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl;
    -- Nothing is accepted and then silently not captured: what the WAL
    -- does not carry, or carries under other names, is refused.
    IF rel.relkind IN ('v', 'm', 'f') THEN
        RAISE EXCEPTION '% is a %: its changes are not in the write-ahead log, so walaudit cannot capture them', tbl,
            CASE rel.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE 'foreign table' END
            USING HINT = CASE rel.relkind WHEN 'v' THEN 'Attach the tables the view reads.'
                                          WHEN 'm' THEN 'Attach the tables it is refreshed from.'
                                          ELSE 'Audit it on the server that holds its data.' END;
    END IF;
    IF rel.relkind <> 'r' THEN
        RAISE EXCEPTION 'walaudit can attach ordinary tables only; % is not one', tbl
            USING HINT = CASE WHEN rel.relkind = 'p' THEN 'Partitioned tables are not supported yet: attach each partition.' END;
    END IF;
    IF rel.relpersistence = 'u' THEN
        RAISE EXCEPTION '% is UNLOGGED: its changes are not in the write-ahead log, so walaudit would capture none of them', tbl
            USING HINT = format('ALTER TABLE %s SET LOGGED, then attach it.', tbl);
    END IF;
    IF rel.relpersistence = 't' THEN
        RAISE EXCEPTION '% is a temporary table: logical decoding does not carry its changes', tbl
            USING HINT = 'Audit a permanent table.';
    END IF;
    SELECT string_agg(i.inhrelid::regclass::text, ', ' ORDER BY i.inhrelid::regclass::text) INTO missing
    FROM pg_inherits i WHERE i.inhparent = tbl AND NOT EXISTS (SELECT 1 FROM walaudit.capture_tables t WHERE t.relid = i.inhrelid);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION '% has inheritance children that are not attached (%): their rows change under their own names', tbl, missing
            USING HINT = 'Attach the children first; inheritance parents are not covered as a whole yet.';
    END IF;
    IF rel.nspname = 'walaudit' THEN
        RAISE EXCEPTION 'walaudit''s own tables cannot be attached';
    END IF;
    SELECT string_agg(quote_ident(col), ', ') INTO missing
    FROM unnest(coalesce(exclude_columns, '{}') || coalesce(mask_columns, '{}')) AS col
    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = tbl AND a.attname = col AND a.attnum > 0 AND NOT a.attisdropped);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'no such column in %: %', tbl, missing;
    END IF;

    EXECUTE format('ALTER TABLE %s REPLICA IDENTITY FULL', tbl);
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = tbl AND tgname = 'walaudit_actor') THEN
        EXECUTE format('CREATE TRIGGER walaudit_actor BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s '
                       'FOR EACH STATEMENT EXECUTE FUNCTION walaudit.capture_actor()', tbl);
    END IF;
    EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER walaudit_actor', tbl);

    INSERT INTO walaudit.capture_tables (relid, schema_name, table_name, key_columns, exclude_columns, mask_columns)
    VALUES (tbl, rel.nspname, rel.relname,
            ARRAY(SELECT a.attname::text FROM pg_index i
                  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                  WHERE i.indrelid = tbl AND i.indisprimary
                  ORDER BY array_position(i.indkey::int2[], a.attnum)),
            coalesce(exclude_columns, '{}'), coalesce(mask_columns, '{}'))
    ON CONFLICT (relid) DO UPDATE
        SET exclude_columns = EXCLUDED.exclude_columns, attached_by = EXCLUDED.attached_by, attached_role = EXCLUDED.attached_role, mask_columns = EXCLUDED.mask_columns,
            key_columns = EXCLUDED.key_columns, schema_name = EXCLUDED.schema_name, table_name = EXCLUDED.table_name;
END
$$;

-- Stops auditing a table; its later changes are not captured. The trigger
-- goes; the replica identity stays (changing it back could surprise
-- replication set up by others).
CREATE OR REPLACE FUNCTION walaudit.detach(tbl regclass)
    RETURNS void
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    UPDATE walaudit.capture_tables SET detached_by = session_user, detached_role = current_user WHERE relid = tbl;
    DELETE FROM walaudit.capture_tables WHERE relid = tbl;
    IF NOT FOUND THEN
        RAISE EXCEPTION '% is not attached', tbl;
    END IF;
    EXECUTE format('DROP TRIGGER IF EXISTS walaudit_actor ON %s', tbl);
END
$$;
