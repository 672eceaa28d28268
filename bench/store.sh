#!/usr/bin/env bash
# What one stored event costs the store, piece by piece (issue 18): the
# events of a captured pgbench backlog are exported with binary COPY, then
# loaded again with binary COPY alone (no worker, no network) into copies
# of walaudit.event_log that differ in one thing each: as built; with
# recorded_at left to its volatile default (COPY then inserts one row at a
# time); without the row index; without the (lsn, lsn_position) guard;
# without the partial index of rare events; primary key only; no index;
# and old_row/new_row/row_key as json instead of jsonb (no parse into
# jsonb's tree). Variants take turns,
# ROUNDS rounds, each load from a CHECKPOINT in its own transaction (fsync
# on); medians in µs per event.
#
#   bench/store.sh [CHANGES] [ROUNDS]      (default 200000 changes, 3 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
changes=${1:-200000}
rounds=${2:-3}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
source bench/cluster.sh
cleanup() { [ -n "${worker:-}" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true; }
start_cluster store max_wal_size=4GB
"$bin/pgbench" -h "$dir" -p 5432 -U postgres -i -q -s 10 postgres >/dev/null 2>&1
"$walaudit" setup --source "$conn" --slot store >/dev/null
"$walaudit" attach --no-baseline pgbench_accounts pgbench_tellers pgbench_branches pgbench_history --source "$conn" --slot store >/dev/null
PGOPTIONS="-c synchronous_commit=off" "$bin/pgbench" -n -c 4 -j 2 -t $((changes / 16)) -h "$dir" -p 5432 -U postgres postgres >/dev/null 2>&1
"$walaudit" run --source "$conn" --slot store >"$dir/worker.log" 2>&1 &
worker=$!
while [ "$(psql -At -c 'SELECT coalesce(max(seq), 0) FROM walaudit.event_log')" -lt "$changes" ]; do sleep 0.5; done
kill "$worker"; wait "$worker" || true; worker=
events=$(psql -At -c "SELECT count(*) FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'DELETE')")
psql -c "COPY (SELECT * FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY seq) TO '$dir/events.bin' WITH (FORMAT binary)"
# The same rows with json for jsonb: json's binary form is its text.
psql -c "COPY (SELECT seq, event_time, operation, schema_name, table_name, changed_columns, db_user, role_name, app_user,
                      app_context, application_name, client_addr, client_port, backend_pid, xid, lsn, lsn_position,
                      row_key::json, old_row::json, new_row::json, payload_salt, payload_digest, prev_hash, hash, purged_at, recorded_at
               FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY seq) TO '$dir/events-json.bin' WITH (FORMAT binary)"

# The rows as the worker sends them: without recorded_at, which its
# default fills.
columns=$(psql -At -c "SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) FROM pg_attribute
                       WHERE attrelid = 'walaudit.event_log'::regclass AND attnum > 0 AND NOT attisdropped AND attname <> 'recorded_at'")
psql -c "COPY (SELECT $columns FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE', 'DELETE') ORDER BY seq) TO '$dir/events-worker.bin' WITH (FORMAT binary)"

# Each variant: a table like event_log with its CHECK and defaults, and the
# indexes named. The as-built index list is read from the catalog, so the
# bench follows sql/store as it changes.
psql <<'SQL'
CREATE TABLE bench_indexes AS
    SELECT indexrelid::regclass::text AS name,
           pg_get_indexdef(indexrelid) AS def,
           i.indisprimary AS primary_key,
           pg_get_indexdef(indexrelid) LIKE '%row_ref(%' AS row_ref,
           pg_get_indexdef(indexrelid) LIKE '%(lsn, lsn_position)%' AS lsn_guard,
           i.indpred IS NOT NULL AS partial
    FROM pg_index i WHERE indrelid = 'walaudit.event_log'::regclass;
CREATE FUNCTION bench_make_variant(variant text, keep text, json boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE ix record;
BEGIN
    SET LOCAL client_min_messages = warning;
    EXECUTE format('DROP TABLE IF EXISTS %I', variant);
    EXECUTE format('CREATE TABLE %I (LIKE walaudit.event_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', variant);
    IF json THEN
        EXECUTE format('ALTER TABLE %I ALTER row_key TYPE json, ALTER old_row TYPE json, ALTER new_row TYPE json', variant);
    END IF;
    FOR ix IN SELECT * FROM bench_indexes LOOP
        CONTINUE WHEN keep = 'none'
            OR (keep = 'pk' AND NOT ix.primary_key)
            OR (keep = 'no-row-ref' AND ix.row_ref)
            OR (keep = 'no-lsn-guard' AND ix.lsn_guard)
            OR (keep = 'no-partial' AND ix.partial)
            OR (json AND ix.row_ref);  -- row_ref() takes jsonb
        EXECUTE replace(replace(ix.def, 'ON walaudit.event_log', format('ON public.%I', variant)),
                        'INDEX ' || split_part(ix.name, '.', 2), 'INDEX ' || variant || '_' || split_part(ix.name, '.', 2));
    END LOOP;
END $$;
SQL
variants=("as built:all:f" "recorded_at left to its volatile default:all:w" "without the row index:no-row-ref:f" "without the (lsn, lsn_position) guard:no-lsn-guard:f"
          "without the partial index of rare events:no-partial:f" "primary key only:pk:f" "no index:none:f"
          "json instead of jsonb (and no row index):all:t" "without the row index (to compare with json):no-row-ref:f")
declare -A times
for round in $(seq "$rounds"); do
    for i in "${!variants[@]}"; do
        IFS=: read -r name keep json <<<"${variants[$i]}"
        file=events.bin; [ "$json" = t ] && file=events-json.bin
        target="v$i"; [ "$json" = w ] && file=events-worker.bin && target="v$i ($columns)" && json=f
        psql -c "SELECT bench_make_variant('v$i', '$keep', '$json')" -c "CHECKPOINT" >/dev/null
        start=$(date +%s%N)
        "$bin/psql" "$conn" -X -q -v ON_ERROR_STOP=1 -c "COPY $target FROM '$dir/$file' WITH (FORMAT binary)"
        times[$i]="${times[$i]:-} $(( ($(date +%s%N) - start) / 1000 ))"
    done
done
echo "store: binary COPY of $events captured pgbench events (fsync on), $rounds rounds; median µs per event (per round):"
for i in "${!variants[@]}"; do
    IFS=: read -r name keep json <<<"${variants[$i]}"
    read -ra t <<<"${times[$i]}"
    sorted=($(printf '%s\n' "${t[@]}" | sort -n))
    median=${sorted[$(( ${#sorted[@]} / 2 ))]}
    per=$(for x in "${t[@]}"; do awk -v x="$x" -v n="$events" 'BEGIN { printf "%.1f ", x / n }'; done)
    awk -v m="$median" -v n="$events" -v name="$name" -v per="$per" 'BEGIN { printf "  %-48s %5.1f µs  (%s)\n", name, m / n, per }'
done
