-- walaudit, source database: changes that escaped capture become GAPs.
--
-- The DDL event trigger (04_ddl.sql) refuses SET UNLOGGED on a captured
-- table and captures new partitions and children of attached tables. A
-- superuser can switch event triggers off; what happened meanwhile is
-- found here. The worker calls check_coverage every few seconds.

-- Finds captured tables whose changes escape capture: a table (or a
-- partition or child of one) that is UNLOGGED, its changes no longer in
-- the WAL; and a partition or inheritance child of an attached table that
-- is not captured, because it joined while the event triggers were off.
-- For each, the attached table's gap_since is set (if it was not): the
-- worker reads that UPDATE in the stream and writes a GAP event, and
-- `walaudit status` warns until the table is attached again. Such
-- partitions and children are captured from now on (sync_members).
-- Returns every problem it sees, each with the attached table, the
-- relation and what is wrong (the worker logs them).
CREATE OR REPLACE FUNCTION walaudit.check_coverage()
    RETURNS TABLE (attached_table text, relation text, problem text)
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
    -- The worker's stream waits while this runs: DDL on a busy new
    -- partition gives up and is tried again at the next check.
    SET lock_timeout = '2s'
AS $$
DECLARE
    roots oid[];
    members oid[];
    hows text[];
    failure text;
BEGIN
    RETURN QUERY
        SELECT coalesce(t.root_relid, t.relid)::regclass::text, t.relid::regclass::text,
               'is UNLOGGED: its changes are not in the write-ahead log, so walaudit captures none of them'
        FROM walaudit.capture_tables t JOIN pg_class c ON c.oid = t.relid
        WHERE c.relpersistence <> 'p'
        ORDER BY 1, 2;
    UPDATE walaudit.capture_tables r SET gap_since = now()
    WHERE r.root_relid IS NULL AND r.gap_since IS NULL
      AND EXISTS (SELECT 1 FROM walaudit.capture_tables t JOIN pg_class c ON c.oid = t.relid
                  WHERE coalesce(t.root_relid, t.relid) = r.relid AND c.relpersistence <> 'p');

    SELECT array_agg(r.relid ORDER BY d.relid), array_agg(d.relid ORDER BY d.relid), array_agg(d.how ORDER BY d.relid)
    INTO roots, members, hows
    FROM walaudit.capture_tables r, walaudit.descendants(r.relid) d
    WHERE r.root_relid IS NULL AND NOT EXISTS (SELECT 1 FROM walaudit.capture_tables t WHERE t.relid = d.relid);
    IF members IS NULL THEN
        RETURN;
    END IF;
    -- What they changed until now is not in the trail.
    UPDATE walaudit.capture_tables r SET gap_since = now()
    WHERE r.relid = ANY (roots) AND r.gap_since IS NULL;
    BEGIN
        PERFORM walaudit.sync_members();
    EXCEPTION WHEN OTHERS THEN
        failure := SQLERRM;
    END;
    FOR i IN 1 .. cardinality(members) LOOP
        attached_table := roots[i]::regclass::text;
        relation := members[i]::regclass::text;
        problem := format('(%s) was not captured: it joined while walaudit''s event triggers were off, so its changes until now are not in the trail; %s',
                          hows[i], CASE WHEN failure IS NULL THEN 'it is captured from now on'
                                        ELSE 'it cannot be captured: ' || failure END);
        RETURN NEXT;
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION walaudit.check_coverage() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION walaudit.check_coverage() TO walaudit_writer;
