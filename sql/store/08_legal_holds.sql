-- walaudit, audit store: legal holds.
--
-- A hold keeps the payloads of the events it matches, whatever retention
-- says, until it is released; it has no expiry. Holds are never deleted:
-- releasing one records who released it, when and why. A name is unique
-- among the active holds.

CREATE TABLE IF NOT EXISTS walaudit.legal_hold (
    hold_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           text NOT NULL CHECK (name <> ''),
    reason         text NOT NULL CHECK (reason <> ''),
    -- What it matches; NULL matches anything.
    schema_name    text,
    table_name     text,
    row_key        jsonb,
    since          timestamptz,
    until          timestamptz,
    actor          text,
    placed_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    placed_by      text NOT NULL,
    released_at    timestamptz,
    released_by    text,
    release_reason text,
    CHECK ((schema_name IS NULL) = (table_name IS NULL)),
    CHECK (released_at IS NULL OR (released_by IS NOT NULL AND release_reason <> ''))
);
CREATE UNIQUE INDEX IF NOT EXISTS legal_hold_active_name ON walaudit.legal_hold (name) WHERE released_at IS NULL;

-- A hold can be released once; nothing else about it ever changes.
CREATE OR REPLACE FUNCTION walaudit.guard_legal_hold() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.released_at IS NULL AND NEW.released_at IS NOT NULL
       AND (to_jsonb(NEW) - ARRAY['released_at', 'released_by', 'release_reason'])
           = (to_jsonb(OLD) - ARRAY['released_at', 'released_by', 'release_reason']) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'legal holds are never changed or deleted: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = 'Release a hold with walaudit.release_legal_hold(name, reason).';
END
$$;
SELECT pg_temp.guard_table('walaudit.legal_hold', 'walaudit_hold_rules', 'UPDATE OR DELETE', 'walaudit.guard_legal_hold',
                           'walaudit_hold_no_truncate', 'walaudit.guard_legal_hold');

-- Every hold, active or released.
CREATE OR REPLACE VIEW walaudit.legal_holds AS
    SELECT name, released_at IS NULL AS active, reason,
           CASE WHEN table_name IS NOT NULL THEN format('%I.%I', schema_name, table_name) END AS table_name,
           row_key, since, until, actor, placed_at, placed_by, released_at, released_by, release_reason
    FROM walaudit.legal_hold;

-- Whether an active hold matches the event: same table, a row key that
-- contains the hold's (so {"customer_id": 7} holds every row of that
-- customer in a composite key), commit time in [since, until], and the
-- actor as application user, login or role. Runs once per expired event,
-- called only from functions that fix search_path: no SET clause of its
-- own, so the planner can inline it.
CREATE OR REPLACE FUNCTION walaudit.is_held(e walaudit.event_log) RETURNS boolean
    LANGUAGE sql STABLE
AS $$
    SELECT EXISTS (
        SELECT 1 FROM walaudit.legal_hold h
        WHERE h.released_at IS NULL
          AND (h.table_name IS NULL OR (h.schema_name = e.schema_name AND h.table_name = e.table_name))
          AND (h.row_key IS NULL OR e.row_key @> h.row_key)
          AND (h.since IS NULL OR e.event_time >= h.since)
          AND (h.until IS NULL OR e.event_time <= h.until)
          AND (h.actor IS NULL OR h.actor IN (e.app_user, e.db_user, e.role_name)))
$$;

-- Places a hold; recorded as a POLICY event with who and why. Returns its id.
CREATE OR REPLACE FUNCTION walaudit.place_legal_hold(name text, reason text, tbl regclass DEFAULT NULL, row_key jsonb DEFAULT NULL,
                                          since timestamptz DEFAULT NULL, until timestamptz DEFAULT NULL,
                                          actor text DEFAULT NULL)
    RETURNS bigint
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    scope record;
    hold walaudit.legal_hold;
BEGIN
    IF coalesce(reason, '') = '' THEN
        RAISE EXCEPTION 'a legal hold needs a reason';
    END IF;
    IF row_key IS NOT NULL AND tbl IS NULL THEN
        RAISE EXCEPTION 'a hold on a row key needs its table';
    END IF;
    SELECT * INTO scope FROM walaudit.table_names(tbl);
    -- Waits for a running apply_retention, so the hold counts from here on.
    LOCK TABLE walaudit.legal_hold IN SHARE ROW EXCLUSIVE MODE;
    BEGIN
        INSERT INTO walaudit.legal_hold (name, reason, schema_name, table_name, row_key, since, until, actor, placed_by)
        VALUES (name, reason, scope.schema_name, scope.table_name, row_key, since, until, actor, walaudit.statement_role())
        RETURNING * INTO hold;
    EXCEPTION WHEN unique_violation THEN
        RAISE EXCEPTION 'an active legal hold named % exists already', quote_literal(name)
            USING HINT = 'Choose another name, or release the existing hold first.';
    END;
    PERFORM walaudit.append_event('POLICY', scope.schema_name, scope.table_name,
        jsonb_build_object('policy', 'legal_hold', 'name', name), NULL,
        jsonb_build_object('action', 'place_legal_hold', 'hold_id', hold.hold_id, 'reason', reason, 'row_key', row_key,
                           'since', since, 'until', until, 'actor', actor));
    RETURN hold.hold_id;
END
$$;

-- Releases the active hold of that name; recorded as a POLICY event.
CREATE OR REPLACE FUNCTION walaudit.release_legal_hold(name text, reason text)
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog
AS $$
DECLARE
    hold walaudit.legal_hold;
BEGIN
    IF coalesce(reason, '') = '' THEN
        RAISE EXCEPTION 'releasing a legal hold needs a reason';
    END IF;
    LOCK TABLE walaudit.legal_hold IN SHARE ROW EXCLUSIVE MODE;
    UPDATE walaudit.legal_hold h SET released_at = clock_timestamp(), released_by = walaudit.statement_role(),
           release_reason = release_legal_hold.reason
    WHERE h.name = release_legal_hold.name AND h.released_at IS NULL
    RETURNING * INTO hold;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no active legal hold named %', quote_literal(name);
    END IF;
    PERFORM walaudit.append_event('POLICY', hold.schema_name, hold.table_name,
        jsonb_build_object('policy', 'legal_hold', 'name', name), NULL,
        jsonb_build_object('action', 'release_legal_hold', 'hold_id', hold.hold_id, 'reason', reason));
END
$$;
