-- walaudit, audit store: verification in SQL, byte for byte the rules of
-- docs/chain-format.md (the CLI's `walaudit verify` applies the same rules).

-- A field: tag, u32 length, body. NULL gives the NULL field.
CREATE OR REPLACE FUNCTION walaudit.chain_field(tag integer, body bytea) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE WHEN body IS NULL THEN '\x0000000000'::bytea
                ELSE set_byte('\x00'::bytea, 0, tag) || int4send(length(body)) || body END
$$;

-- A text field (tag 0x01).
CREATE OR REPLACE FUNCTION walaudit.chain_text(value text) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$ SELECT walaudit.chain_field(1, convert_to(value, 'UTF8')) $$;

-- An integer field (tag 0x02): 8 bytes big-endian.
CREATE OR REPLACE FUNCTION walaudit.chain_integer(value bigint) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$ SELECT walaudit.chain_field(2, int8send(value)) $$;

-- The structural JSON body: n/t/f, d+numeric text, s+string, a+items,
-- o+members sorted by the UTF-8 bytes of their keys (COLLATE "C").
-- STRICT: SQL NULL stays NULL, which chain_field turns into the NULL field.
CREATE OR REPLACE FUNCTION walaudit.chain_json_body(value jsonb) RETURNS bytea
    LANGUAGE plpgsql IMMUTABLE STRICT SET search_path = pg_catalog
AS $$
DECLARE
    kind text := jsonb_typeof(value);
    body bytea;
BEGIN
    IF kind = 'null' THEN RETURN '\x6e'::bytea; END IF;
    IF kind = 'boolean' THEN RETURN CASE WHEN value::boolean THEN '\x74'::bytea ELSE '\x66'::bytea END; END IF;
    IF kind = 'number' THEN
        body := convert_to(value::numeric::text, 'UTF8');
        RETURN '\x64'::bytea || int4send(length(body)) || body;
    END IF;
    IF kind = 'string' THEN
        body := convert_to(value #>> '{}', 'UTF8');
        RETURN '\x73'::bytea || int4send(length(body)) || body;
    END IF;
    IF kind = 'array' THEN
        SELECT coalesce(string_agg(walaudit.chain_json_body(e), ''::bytea ORDER BY n), ''::bytea) INTO body
        FROM jsonb_array_elements(value) WITH ORDINALITY AS a(e, n);
        RETURN '\x61'::bytea || int4send(jsonb_array_length(value)) || body;
    END IF;
    SELECT coalesce(string_agg(int4send(length(convert_to(k, 'UTF8'))) || convert_to(k, 'UTF8') || walaudit.chain_json_body(v),
                               ''::bytea ORDER BY k COLLATE "C"), ''::bytea), count(*) INTO body, kind
    FROM jsonb_each(value) AS o(k, v);
    RETURN '\x6f'::bytea || int4send(kind::integer) || body;
END
$$;

-- A JSON field (tag 0x06).
CREATE OR REPLACE FUNCTION walaudit.chain_json(value jsonb) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$ SELECT walaudit.chain_field(6, walaudit.chain_json_body(value)) $$;

-- The payload digest of a stored event.
CREATE OR REPLACE FUNCTION walaudit.chain_payload_digest(e walaudit.event_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT sha256(convert_to('walaudit/payload/v1', 'UTF8') || '\x00'::bytea || e.payload_salt
                  || walaudit.chain_json(e.row_key) || walaudit.chain_json(e.old_row) || walaudit.chain_json(e.new_row))
$$;

-- The hash of a stored event.
CREATE OR REPLACE FUNCTION walaudit.chain_hash(e walaudit.event_log) RETURNS bytea
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT sha256(convert_to('walaudit/event/v1', 'UTF8') || '\x00'::bytea || e.prev_hash
        || walaudit.chain_integer(e.seq)
        || walaudit.chain_field(5, int8send((extract(epoch FROM e.event_time) * 1000000)::bigint))
        || walaudit.chain_text(e.operation) || walaudit.chain_text(e.schema_name) || walaudit.chain_text(e.table_name)
        || walaudit.chain_field(4, (SELECT coalesce(string_agg(walaudit.chain_text(c), ''::bytea ORDER BY n), ''::bytea)
                                    FROM unnest(e.changed_columns) WITH ORDINALITY AS u(c, n)
                                    WHERE e.changed_columns IS NOT NULL HAVING e.changed_columns IS NOT NULL))
        || walaudit.chain_text(e.db_user) || walaudit.chain_text(e.role_name) || walaudit.chain_text(e.app_user)
        || walaudit.chain_json(e.app_context) || walaudit.chain_text(e.application_name)
        -- format('%s') uses inet's output function: 127.0.0.1, not 127.0.0.1/32
        || walaudit.chain_text(CASE WHEN e.client_addr IS NOT NULL THEN format('%s', e.client_addr) END)
        || walaudit.chain_integer(e.client_port) || walaudit.chain_integer(e.backend_pid)
        || walaudit.chain_integer(e.xid) || walaudit.chain_integer((e.lsn - '0/0'::pg_lsn)::bigint)
        || walaudit.chain_integer(e.lsn_position) || walaudit.chain_field(3, e.payload_digest))
$$;

-- Which field of a stored event has no encoding (docs/chain-format.md,
-- "Values with no encoding"), or NULL: event_time must be finite and at most
-- 294247-01-10 04:00:54.775807 UTC (its microseconds since 1970 an int8);
-- changed_columns must be NULL, empty or one-dimensional with lower bound 1
-- (a NULL element is encodable). Such
-- an event is *event altered*: the worker writes no such value and no hash
-- can vouch for one. The texts are those of `StoredEvent.unencodableField`.
CREATE OR REPLACE FUNCTION walaudit.chain_unencodable(e walaudit.event_log) RETURNS text
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$
    SELECT CASE WHEN NOT isfinite(e.event_time) OR e.event_time > '294247-01-10 04:00:54.775807+00'
                THEN 'event_time (±infinity, or after 294247-01-10T04:00:54.775807Z)'
                WHEN NOT coalesce(array_ndims(e.changed_columns) = 1 AND array_lower(e.changed_columns, 1) = 1, true)
                THEN 'changed_columns (not a one-dimensional array with lower bound 1)' END
$$;

-- A JSON integer of at most 18 digits as bigint, else NULL: what a POLICY
-- event holds is read without ever raising an error.
CREATE OR REPLACE FUNCTION walaudit.json_bigint(value jsonb) RETURNS bigint
    LANGUAGE sql IMMUTABLE SET search_path = pg_catalog
AS $$ SELECT CASE WHEN jsonb_typeof(value) = 'number' AND value::text ~ '^-?[0-9]{1,18}$' THEN value::text::bigint END $$;

-- A timestamp as to_jsonb writes it (ISO 8601 with its offset, or
-- [-]infinity), else NULL, without ever raising an error.
CREATE OR REPLACE FUNCTION walaudit.json_time(value jsonb) RETURNS timestamptz
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
BEGIN
    IF jsonb_typeof(value) IS DISTINCT FROM 'string' OR NOT (value #>> '{}') ~
       '^([0-9]{4,}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?[+-][0-9]{2}(:[0-9]{2}(:[0-9]{2})?)?( BC)?|-?infinity)$' THEN
        RETURN NULL;
    END IF;
    RETURN (value #>> '{}')::timestamptz;
EXCEPTION WHEN data_exception THEN
    RETURN NULL;
END
$$;

-- The first purged event in [from_seq, to_seq] that no run of
-- apply_retention accounts for, by what the chain's own POLICY events say
-- (docs/chain-format.md, "Purge accounting"), or NULL. A run that records
-- its purges (`purges`) accounts for an event inside one of its ranges
-- of the event's table if the POLICY events before the run set for that
-- table and for the default exactly the retention the run went by, the
-- event is older than the run's cutoff, and no hold they show active
-- matches the event by table, time and actor (a hold with a row key only
-- if the run did not go by that very hold: the event's key is gone with
-- its payload). An older run (no `purges`) accounts for the events before
-- it of the tables it counts purges for, if a retention was in force for
-- the table, committed before its clock. Only row changes are ever purged.
CREATE OR REPLACE FUNCTION walaudit.first_unaccounted_purge(from_seq bigint, to_seq bigint) RETURNS bigint
    LANGUAGE sql STABLE SET search_path = pg_catalog
AS $$
    -- The policy CTEs are small and MATERIALIZED, so that they are
    -- computed once, not once per purged event.
    WITH policy AS (
        SELECT e.seq, e.schema_name, e.table_name, e.row_key->>'policy' AS kind, e.new_row->>'action' AS action, e.new_row AS facts
        FROM walaudit.event_log e
        WHERE e.operation = 'POLICY' AND e.purged_at IS NULL AND e.seq >= 1
    ), settings AS (
        SELECT p.seq, p.schema_name, p.table_name, p.facts->>'keep' AS keep,
               CASE WHEN p.facts->>'keep' IS NOT NULL THEN p.facts->>'mode' END AS mode
        FROM policy p WHERE p.kind = 'retention' AND p.action = 'set_retention'
    ), holds AS MATERIALIZED (
        SELECT p.seq AS placed,
               (SELECT min(r.seq) FROM policy r
                WHERE r.kind = 'legal_hold' AND r.action = 'release_legal_hold' AND r.facts->'hold_id' = p.facts->'hold_id'
                  AND r.seq > p.seq) AS released,
               p.facts->'hold_id' AS hold_id, p.schema_name, p.table_name, nullif(p.facts->'row_key', 'null') AS row_key,
               walaudit.json_time(p.facts->'since') AS since, walaudit.json_time(p.facts->'until') AS until,
               p.facts->>'actor' AS actor
        FROM policy p WHERE p.kind = 'legal_hold' AND p.action = 'place_legal_hold'
    ), runs AS (
        SELECT p.seq, p.facts FROM policy p
        WHERE p.kind = 'retention' AND p.action = 'apply_retention' AND p.facts->'dry_run' = 'false'
    ), ranges AS (
        SELECT r.seq AS run, t->>'schema' AS schema_name, t->>'table' AS table_name, walaudit.json_bigint(t->'cutoff_us') AS cutoff_us,
               walaudit.json_bigint(s->0) AS first_seq, walaudit.json_bigint(s->1) AS last_seq
        FROM runs r,
             jsonb_array_elements(CASE WHEN jsonb_typeof(r.facts->'purges') = 'array' THEN r.facts->'purges' ELSE '[]' END) t,
             jsonb_array_elements(CASE WHEN jsonb_typeof(t->'seqs') = 'array' THEN t->'seqs' ELSE '[]' END) s
    ), allowed AS MATERIALIZED (
        -- Per run and table: the retention the run went by (its own list)
        -- is the one the chain had set, for the table and for the default.
        SELECT k.run, k.schema_name, k.table_name,
               (SELECT jsonb_agg(jsonb_build_array(c->>'keep', c->>'mode')) FROM jsonb_array_elements(k.went_by) c
                WHERE c->>'schema' = k.schema_name AND c->>'table' = k.table_name)
               IS NOT DISTINCT FROM
               (SELECT CASE WHEN s.keep IS NOT NULL THEN jsonb_build_array(jsonb_build_array(s.keep, s.mode)) END FROM settings s
                WHERE s.seq < k.run AND s.schema_name = k.schema_name AND s.table_name = k.table_name ORDER BY s.seq DESC LIMIT 1)
               AND
               (SELECT jsonb_agg(jsonb_build_array(c->>'keep', c->>'mode')) FROM jsonb_array_elements(k.went_by) c
                WHERE jsonb_typeof(c->'schema') = 'null' AND jsonb_typeof(c->'table') = 'null')
               IS NOT DISTINCT FROM
               (SELECT CASE WHEN s.keep IS NOT NULL THEN jsonb_build_array(jsonb_build_array(s.keep, s.mode)) END FROM settings s
                WHERE s.seq < k.run AND s.schema_name IS NULL AND s.table_name IS NULL ORDER BY s.seq DESC LIMIT 1) AS ok
        FROM (SELECT DISTINCT g.run, g.schema_name, g.table_name,
                     CASE WHEN jsonb_typeof(r.facts->'retention') = 'array' THEN r.facts->'retention' ELSE '[]' END AS went_by
              FROM ranges g JOIN runs r ON r.seq = g.run) k
    ), blockers AS MATERIALIZED (
        -- Per run: the holds the chain shows active then that keep its
        -- purges off the events they match: every hold without a row key,
        -- and one with a key unless the run lists it exactly as placed.
        SELECT r.seq AS run, h.schema_name, h.table_name, h.since, h.until, h.actor
        FROM runs r JOIN holds h ON h.placed < r.seq AND (h.released IS NULL OR h.released > r.seq)
        WHERE r.seq IN (SELECT g.run FROM ranges g)
          AND (h.row_key IS NULL OR NOT EXISTS (
              SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(r.facts->'holds') = 'array' THEN r.facts->'holds' ELSE '[]' END) c
              WHERE c->'hold_id' = h.hold_id AND c->>'schema' IS NOT DISTINCT FROM h.schema_name
                AND c->>'table' IS NOT DISTINCT FROM h.table_name AND nullif(c->'row_key', 'null') IS NOT DISTINCT FROM h.row_key
                AND walaudit.json_time(c->'since') IS NOT DISTINCT FROM h.since
                AND walaudit.json_time(c->'until') IS NOT DISTINCT FROM h.until AND c->>'actor' IS NOT DISTINCT FROM h.actor))
    ), old_runs AS (
        -- Runs recorded before their purges were: the tables they purged
        -- (`schema.table` as format('%I.%I') wrote it) and their clock.
        SELECT r.seq AS run, n.schema_name, n.table_name, walaudit.json_time(r.facts->'clock') AS clock
        FROM runs r,
             jsonb_each(CASE WHEN jsonb_typeof(r.facts->'tables') = 'object' THEN r.facts->'tables' ELSE '{}' END) t,
             LATERAL (SELECT coalesce(replace(m[1], '""', '"'), m[2]) AS schema_name, coalesce(replace(m[3], '""', '"'), m[4]) AS table_name
                      FROM regexp_match(t.key, '^(?:"((?:[^"]|"")+)"|([a-z_][a-z0-9_]*))\.(?:"((?:[^"]|"")+)"|([a-z_][a-z0-9_]*))$') m) n
        WHERE NOT r.facts ? 'purges' AND walaudit.json_bigint(t.value->0) > 0 AND n.schema_name IS NOT NULL
          AND coalesce((SELECT s.keep FROM settings s
                        WHERE s.seq < r.seq AND s.schema_name = n.schema_name AND s.table_name = n.table_name ORDER BY s.seq DESC LIMIT 1),
                       (SELECT s.keep FROM settings s
                        WHERE s.seq < r.seq AND s.schema_name IS NULL AND s.table_name IS NULL ORDER BY s.seq DESC LIMIT 1)) IS NOT NULL
    ), marks AS (
        SELECT e.seq, e.schema_name, e.table_name, true AS is_event, NULL::bigint AS first_seq, NULL::timestamptz AS clock,
               e.operation, e.event_time, e.app_user, e.db_user, e.role_name
        FROM walaudit.event_log e
        WHERE e.purged_at IS NOT NULL AND e.seq >= greatest(coalesce(from_seq, 1), 1) AND e.seq <= coalesce(to_seq, 9223372036854775807)
        UNION ALL
        SELECT g.first_seq, g.schema_name, g.table_name, false, g.first_seq, NULL, NULL, NULL, NULL, NULL, NULL
        FROM ranges g WHERE g.first_seq IS NOT NULL
        UNION ALL
        SELECT o.run, o.schema_name, o.table_name, false, NULL, o.clock, NULL, NULL, NULL, NULL, NULL FROM old_runs o
    ), located AS (
        -- Each purged event with the latest start of a range of its table
        -- at or before it, and the latest clock of an older run after it.
        SELECT m.*, max(m.first_seq) OVER (PARTITION BY m.schema_name, m.table_name ORDER BY m.seq, m.is_event) AS range_start,
               max(m.clock) OVER (PARTITION BY m.schema_name, m.table_name ORDER BY m.seq DESC, m.is_event) AS latest_clock
        FROM marks m
    ), in_range AS (
        SELECT l.seq, bool_or(l.seq <= g.last_seq AND (extract(epoch FROM l.event_time) * 1000000)::bigint < g.cutoff_us AND a.ok
                              AND b.run IS NULL) AS ok
        FROM located l
        JOIN ranges g ON g.schema_name = l.schema_name AND g.table_name = l.table_name AND g.first_seq = l.range_start
        JOIN allowed a ON a.run = g.run AND a.schema_name = g.schema_name AND a.table_name = g.table_name
        LEFT JOIN blockers b ON b.run = g.run
             AND (b.table_name IS NULL OR (b.schema_name = l.schema_name AND b.table_name = l.table_name))
             AND (b.since IS NULL OR l.event_time >= b.since) AND (b.until IS NULL OR l.event_time <= b.until)
             AND (b.actor IS NULL OR b.actor IN (l.app_user, l.db_user, l.role_name))
        WHERE l.is_event
        GROUP BY l.seq
    )
    SELECT min(l.seq) FROM located l LEFT JOIN in_range i ON i.seq = l.seq
    WHERE l.is_event AND NOT (l.operation IN ('INSERT', 'UPDATE', 'DELETE', 'SNAPSHOT')
                              AND (coalesce(l.event_time < l.latest_clock, false) OR coalesce(i.ok, false)))
$$;

-- Rechecks the chain from from_seq to to_seq (default: all of it). First,
-- when checking from the start, that no row lies before seq 1: seqs start
-- at 1 and the chain is read from there, so such a row (inserted by someone
-- who can bypass the append-only rules) breaks no link, yet
-- walaudit.events and the reports show it. Then, in seq order: no seq
-- missing, every prev_hash the previous hash, every payload matching its
-- digest (a purged event must hold no payload at all), every hash matching
-- its event, and every purged event accounted for by a run of
-- apply_retention (first_unaccounted_purge). The first failure is
-- reported with its seq and kind, as `walaudit verify` reports it.
CREATE OR REPLACE FUNCTION walaudit.verify_chain(from_seq bigint DEFAULT NULL, to_seq bigint DEFAULT NULL)
    RETURNS TABLE (ok boolean, checked bigint, purged bigint, first_bad_seq bigint, problem text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    e walaudit.event_log;
    expected bigint := coalesce(from_seq, 1);
    previous bytea;
    outside bigint;
    unaccounted bigint;
BEGIN
    checked := 0;
    purged := 0;
    IF expected <= 1 THEN
        SELECT min(l.seq) INTO outside FROM walaudit.event_log l WHERE l.seq < 1;
        IF outside IS NOT NULL THEN
            ok := false;
            first_bad_seq := outside;
            problem := format('seq %s is outside the chain (seqs start at 1): a row was added to the event log', outside);
            RETURN NEXT; RETURN;
        END IF;
    END IF;
    unaccounted := walaudit.first_unaccounted_purge(expected, to_seq);
    previous := CASE WHEN expected <= 1 THEN '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                     ELSE (SELECT l.hash FROM walaudit.event_log l WHERE l.seq = expected - 1) END;
    FOR e IN SELECT * FROM walaudit.event_log l
             WHERE l.seq >= expected AND l.seq <= coalesce(to_seq, 9223372036854775807) ORDER BY l.seq LOOP
        IF e.seq <> expected THEN
            ok := false;
            first_bad_seq := expected;
            problem := format('events missing: seq %s to %s are not in the store', expected, e.seq - 1);
            RETURN NEXT; RETURN;
        END IF;
        IF previous IS NOT NULL AND e.prev_hash <> previous THEN
            ok := false;
            first_bad_seq := e.seq;
            problem := format('link broken: prev_hash of seq %s is not the hash of seq %s (events removed, reordered or replaced)', e.seq, e.seq - 1);
            RETURN NEXT; RETURN;
        END IF;
        IF e.purged_at IS NOT NULL AND num_nonnulls(e.row_key, e.old_row, e.new_row, e.payload_salt) > 0 THEN
            -- Otherwise marking an event purged would hide an altered payload.
            ok := false;
            first_bad_seq := e.seq;
            problem := format('payload altered: seq %s is marked purged but still holds a payload', e.seq);
            RETURN NEXT; RETURN;
        ELSIF e.purged_at IS NOT NULL THEN
            purged := purged + 1;
        ELSIF e.payload_salt IS NULL OR walaudit.chain_payload_digest(e) <> e.payload_digest THEN
            ok := false;
            first_bad_seq := e.seq;
            problem := format('payload altered: row_key, old_row or new_row of seq %s does not match its digest', e.seq);
            RETURN NEXT; RETURN;
        END IF;
        IF walaudit.chain_unencodable(e) IS NOT NULL THEN
            ok := false;
            first_bad_seq := e.seq;
            problem := format('event altered: %s of seq %s has no encoding in the chain, so no hash can vouch for it',
                              walaudit.chain_unencodable(e), e.seq);
            RETURN NEXT; RETURN;
        END IF;
        IF walaudit.chain_hash(e) <> e.hash THEN
            ok := false;
            first_bad_seq := e.seq;
            problem := format('event altered: a field of seq %s (time, operation, table, who, where, digest) does not match its hash', e.seq);
            RETURN NEXT; RETURN;
        END IF;
        IF e.seq = unaccounted THEN
            ok := false;
            first_bad_seq := e.seq;
            problem := format('purged outside retention: the payload of seq %s was purged, but no apply_retention run accounts for it '
                              '(none purged it under the retention then in force, older than its cutoff, held by no legal hold)', e.seq);
            RETURN NEXT; RETURN;
        END IF;
        checked := checked + 1;
        expected := e.seq + 1;
        previous := e.hash;
    END LOOP;
    ok := true;
    RETURN NEXT;
END
$$;
