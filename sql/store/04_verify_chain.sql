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

-- Rechecks the chain from from_seq to to_seq (default: all of it). First,
-- when checking from the start, that no row lies before seq 1: seqs start
-- at 1 and the chain is read from there, so such a row (inserted by someone
-- who can bypass the append-only rules) breaks no link, yet
-- walaudit.events and the reports show it. Then, in seq order: no seq
-- missing, every prev_hash the previous hash, every payload matching its
-- digest (a purged event must hold no payload at all), every hash matching
-- its event. The first failure is reported with its seq and kind, as
-- `walaudit verify` reports it.
CREATE OR REPLACE FUNCTION walaudit.verify_chain(from_seq bigint DEFAULT NULL, to_seq bigint DEFAULT NULL)
    RETURNS TABLE (ok boolean, checked bigint, purged bigint, first_bad_seq bigint, problem text)
    LANGUAGE plpgsql STABLE SET search_path = pg_catalog
AS $$
DECLARE
    e walaudit.event_log;
    expected bigint := coalesce(from_seq, 1);
    previous bytea;
    outside bigint;
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
        checked := checked + 1;
        expected := e.seq + 1;
        previous := e.hash;
    END LOOP;
    ok := true;
    RETURN NEXT;
END
$$;
