#!/usr/bin/env bash
# Report latency on a large store: row_history and a day of changes among
# N synthetic events (default 10,000,000) in a throwaway cluster.
#
# The events are inserted straight into walaudit.event_log with placeholder
# hashes (the chain does not verify; this measures the indexes, not the
# chain): 10 tables, 100k row keys each (N/1M events per row), 100k events
# per day over N/100k days.
#
#   bench/reports.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
source bench/cluster.sh
start_cluster reports fsync=off max_wal_size=8GB shared_buffers=256MB

"$walaudit" setup --source "$conn" >/dev/null
psql -c "DO \$\$ BEGIN FOR i IN 0..9 LOOP EXECUTE format('CREATE TABLE t%s (id integer PRIMARY KEY)', i); END LOOP; END \$\$"
start=$(date +%s)
psql -c "
INSERT INTO walaudit.event_log (seq, event_time, operation, schema_name, table_name, changed_columns, db_user, role_name,
    row_key, new_row, payload_salt, payload_digest, prev_hash, hash)
SELECT s, timestamptz '2026-01-01 00:00+00' + (s * interval '864 milliseconds'), 'UPDATE', 'public', 't' || (s % 10),
       '{v}', 'app', 'app', jsonb_build_object('id', (s / 10) % 100000), jsonb_build_object('id', (s / 10) % 100000, 'v', s),
       '\x00', '\x00', '\x00', '\x00'
FROM generate_series(1, $events) s"
psql -c "VACUUM ANALYZE walaudit.event_log"
echo "reports-bench: $(nproc) cores, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1048576)) GiB; $events events loaded in $(( $(date +%s) - start )) s"

# Median of 5 timed calls, in milliseconds.
timed() {
    for _ in 1 2 3 4 5; do
        command psql "$conn" -X -q -c '\timing on' -c "$1" | awk '/^Time:/ {print $2}'
    done | sort -n | sed -n 3p
}
# A day in the middle of the loaded range.
day=$(psql -At -c "SELECT (date '2026-01-01' + ($events / 100000 / 2))::text")
next_day=$(psql -At -c "SELECT (date '$day' + 1)::text")
history_ms=$(timed "SELECT count(*) FROM walaudit.row_history('t3', '{\"id\": 42424}')")
history_rows=$(psql -At -c "SELECT count(*) FROM walaudit.row_history('t3', '{\"id\": 42424}')")
day_ms=$(timed "SELECT count(*) FROM walaudit.changes('$day', '$next_day', 't3')")
day_rows=$(psql -At -c "SELECT count(*) FROM walaudit.changes('$day', '$next_day', 't3')")
# What the day's query reads: the BRIN index keeps it to that day's blocks.
plan=$(psql -At -c "EXPLAIN (ANALYZE, BUFFERS) WITH in_range AS MATERIALIZED (SELECT * FROM walaudit.events
    WHERE event_time >= '$day' AND event_time < '$next_day') SELECT * FROM in_range WHERE schema_name = 'public' AND table_name = 't3'")
day_blocks=$(echo "$plan" | grep -m1 -o 'Buffers: shared hit=[0-9]*\( read=[0-9]*\)\?' | grep -o '[0-9]\+' | awk '{s += $1} END {print s}')
day_nodes=$(echo "$plan" | grep -o '\(Bitmap Heap Scan\|Bitmap Index Scan\|Index Scan\|Seq Scan\) on [a-z_]*' | paste -sd '/' -)
table_blocks=$(psql -At -c "SELECT relpages FROM pg_class WHERE oid = 'walaudit.event_log'::regclass")
echo "  row_history: $history_rows events of one row among $events in $history_ms ms (median of 5)"
echo "  changes: one day of one table, $day_rows events, in $day_ms ms (median of 5); reads $day_blocks of the log's $table_blocks blocks ($day_nodes)"

# Retention: purge one table's first 10 days (100k events at the default
# density) with the test clock of a superuser session; the guard rechecks
# every purge against the policy.
psql -c "SELECT walaudit.set_retention('t3', '1 day')" >/dev/null
expired=$(psql -At -c "SELECT count(*) FROM walaudit.event_log WHERE table_name = 't3' AND event_time < '2026-01-11'")
start_ns=$(date +%s%N)
purged=$(psql -At -c "SET walaudit.test_now = '2026-01-12'" -c "SELECT purged FROM walaudit.apply_retention()")
retention_ms=$(( ($(date +%s%N) - start_ns) / 1000000 ))
echo "  apply_retention: purged $purged of $expired expired events in $retention_ms ms ($(( purged * 1000 / (retention_ms + 1) )) events/s)"
