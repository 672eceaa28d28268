-- walaudit, audit store: how long payloads are kept.
--
-- One policy per table, plus a default (schema_name and table_name NULL)
-- for tables without their own. Tables are named, not referenced by OID,
-- so policies survive a dump and restore of the store.
--   governance: walaudit_admin may change or remove it.
--   compliance: nobody may shorten or remove it, nor turn it back into
--               governance, superusers calling the functions included. A
--               compliance default is also a floor for every table.
-- The rules live in a trigger on the table, so they hold for direct
-- writes too, not only for set_retention.

CREATE TABLE IF NOT EXISTS walaudit.retention_policy (
    schema_name text,
    table_name  text,
    keep        interval NOT NULL CHECK (keep > interval '0'),
    mode        text NOT NULL CHECK (mode IN ('governance', 'compliance')),
    set_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
    set_by      text NOT NULL,
    CHECK ((schema_name IS NULL) = (table_name IS NULL)),
    UNIQUE NULLS NOT DISTINCT (schema_name, table_name)
);

-- Whether `candidate` keeps at least as long as `current`: months and
-- years have no fixed length, so both the interval order and the calendar
-- from today must agree.
CREATE OR REPLACE FUNCTION walaudit.keeps_at_least(candidate interval, current interval) RETURNS boolean
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$ SELECT candidate >= current AND now() - candidate <= now() - current $$;

-- Enforces compliance mode on every write to the policy table.
CREATE OR REPLACE FUNCTION walaudit.guard_retention_policy() RETURNS trigger
    LANGUAGE plpgsql SET search_path = pg_catalog
AS $$
DECLARE
    floor walaudit.retention_policy;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        RAISE EXCEPTION 'retention policies cannot be truncated' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.mode = 'compliance' THEN
        IF TG_OP = 'DELETE' OR NEW.mode <> 'compliance' OR NOT walaudit.keeps_at_least(NEW.keep, OLD.keep) THEN
            RAISE EXCEPTION 'the compliance retention of % (%) can only be lengthened',
                CASE WHEN OLD.table_name IS NULL THEN 'the default' ELSE format('%I.%I', OLD.schema_name, OLD.table_name) END, OLD.keep
                USING ERRCODE = 'insufficient_privilege',
                      HINT = 'Compliance mode cannot be shortened, removed or turned into governance by any role.';
        END IF;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.table_name IS NOT NULL THEN
        SELECT * INTO floor FROM walaudit.retention_policy WHERE schema_name IS NULL AND mode = 'compliance';
        IF FOUND AND NOT walaudit.keeps_at_least(NEW.keep, floor.keep) THEN
            RAISE EXCEPTION 'retention of %.% (%) would be shorter than the compliance default (%)',
                quote_ident(NEW.schema_name), quote_ident(NEW.table_name), NEW.keep, floor.keep
                USING ERRCODE = 'insufficient_privilege';
        END IF;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
SELECT pg_temp.guard_table('walaudit.retention_policy', 'walaudit_retention_rules', 'INSERT OR UPDATE OR DELETE',
                           'walaudit.guard_retention_policy', 'walaudit_retention_no_truncate', 'walaudit.guard_retention_policy');

-- The policies in force, the default labelled as such.
CREATE OR REPLACE VIEW walaudit.retention_policies AS
    SELECT CASE WHEN table_name IS NULL THEN '(default)' ELSE format('%I.%I', schema_name, table_name) END AS table_name,
           keep, mode, set_at, set_by
    FROM walaudit.retention_policy;

-- Schema and name of a table given as regclass (names, not the OID, are
-- what the store keeps).
CREATE OR REPLACE FUNCTION walaudit.table_names(tbl regclass, OUT schema_name text, OUT table_name text)
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    SELECT n.nspname::text, c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = tbl
$$;

-- Sets how long events of `tbl` (NULL: the default) keep their payload;
-- keep NULL removes a governance policy. Recorded as a POLICY event with
-- the previous and the new setting, keep as IntervalStyle postgres prints
-- it whatever the caller's style, as apply_retention records the policies
-- it goes by (a verifier compares the two texts).
CREATE OR REPLACE FUNCTION walaudit.set_retention(tbl regclass, keep interval, mode text DEFAULT 'governance')
    RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog SET IntervalStyle = 'postgres'
AS $$
DECLARE
    scope record;
    previous walaudit.retention_policy;
BEGIN
    IF mode IS NULL OR mode NOT IN ('governance', 'compliance') THEN
        RAISE EXCEPTION 'retention mode must be ''governance'' or ''compliance'', not %', coalesce(quote_literal(mode), 'NULL');
    END IF;
    SELECT * INTO scope FROM walaudit.table_names(tbl);
    -- Serialises with apply_retention, which reads the policies.
    LOCK TABLE walaudit.retention_policy IN SHARE ROW EXCLUSIVE MODE;
    SELECT * INTO previous FROM walaudit.retention_policy p
    WHERE p.schema_name IS NOT DISTINCT FROM scope.schema_name AND p.table_name IS NOT DISTINCT FROM scope.table_name;
    IF keep IS NULL THEN
        DELETE FROM walaudit.retention_policy p
        WHERE p.schema_name IS NOT DISTINCT FROM scope.schema_name AND p.table_name IS NOT DISTINCT FROM scope.table_name;
    ELSIF previous.keep IS NULL THEN
        INSERT INTO walaudit.retention_policy (schema_name, table_name, keep, mode, set_by)
        VALUES (scope.schema_name, scope.table_name, keep, mode, walaudit.statement_role());
    ELSE
        UPDATE walaudit.retention_policy p SET keep = set_retention.keep, mode = set_retention.mode,
               set_at = clock_timestamp(), set_by = walaudit.statement_role()
        WHERE p.schema_name IS NOT DISTINCT FROM scope.schema_name AND p.table_name IS NOT DISTINCT FROM scope.table_name;
    END IF;
    PERFORM walaudit.append_event('POLICY', scope.schema_name, scope.table_name,
        jsonb_build_object('policy', 'retention'),
        CASE WHEN previous.keep IS NOT NULL THEN jsonb_build_object('keep', previous.keep::text, 'mode', previous.mode) END,
        jsonb_build_object('action', 'set_retention', 'keep', keep::text, 'mode', CASE WHEN keep IS NOT NULL THEN mode END));
END
$$;

-- The time retention measures ages against: now(), or — for tests and
-- drills, honoured only in a superuser's session — the timestamp in
-- walaudit.test_now. apply_retention records the clock it used.
-- This and retention_cutoff run once per purged event and are called only
-- from functions that fix search_path, so they do not set it themselves
-- (a SET clause makes every call save and restore the setting).
CREATE OR REPLACE FUNCTION walaudit.retention_clock() RETURNS timestamptz
    LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN coalesce(pg_catalog.current_setting('walaudit.test_now', true), '') <> ''
                     AND (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = session_user)
                THEN pg_catalog.current_setting('walaudit.test_now')::timestamptz
                ELSE pg_catalog.now() END
$$;

-- Events of a table committed before this time have outlived their
-- retention (NULL: no policy applies). A compliance default is a floor.
CREATE OR REPLACE FUNCTION walaudit.retention_cutoff(event_schema text, event_table text, clock timestamptz)
    RETURNS timestamptz
    LANGUAGE sql STABLE
AS $$
    SELECT CASE WHEN d.mode = 'compliance' THEN least(clock - t.keep, clock - d.keep)
                ELSE clock - coalesce(t.keep, d.keep) END
    FROM (SELECT 1) one
    LEFT JOIN walaudit.retention_policy t ON t.schema_name = event_schema AND t.table_name = event_table
    LEFT JOIN walaudit.retention_policy d ON d.schema_name IS NULL
$$;
