#!/usr/bin/env bash
# Baseline throughput: attach a pgbench_accounts of SCALE × 100,000 rows
# (default 100: 10M rows) to a running worker and time until its last
# SNAPSHOT is stored, against a plain `COPY pgbench_accounts TO STDOUT` of
# the same table in the same cluster. With RATE > 0 (default 200), 4
# pgbench clients write RATE transactions/s in all for the whole baseline,
# and the slowest of their transactions (pgbench -l) is reported: the
# baseline takes no lock that makes writers wait. (Unthrottled writers on
# these 2 cores outrun the worker's ingest, issue 18, and the baseline's
# marks wait behind that backlog.)
#
#   bench/baseline.sh [SCALE] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-100}
rate=${2:-200}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
bin=/usr/lib/postgresql/15/bin

dir=$(mktemp -d /tmp/walaudit-baseline-XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; chmod 777 "$dir"; as_pg=(runuser -u postgres --); fi
cleanup() {
    [ -n "${worker:-}" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c wal_level=logical -c listen_addresses='' \
    -c unix_socket_directories=$dir -c port=5432 -c max_wal_size=8GB -c shared_buffers=512MB" start >/dev/null
conn="host=$dir port=5432 user=postgres dbname=postgres"
psql() { command psql "$conn" -X -q -v ON_ERROR_STOP=1 "$@"; }

"$bin/pgbench" -h "$dir" -p 5432 -U postgres -i -q -s "$scale" postgres >/dev/null 2>&1
psql -c "VACUUM ANALYZE pgbench_accounts"
rows=$(psql -At -c "SELECT count(*) FROM pgbench_accounts")
start=$(date +%s.%N)
psql -c "COPY pgbench_accounts TO STDOUT" >/dev/null
copy_seconds=$(echo "$(date +%s.%N) - $start" | bc)

"$walaudit" setup --source "$conn" >/dev/null
"$walaudit" run --source "$conn" 2>"$dir/worker.log" &
worker=$!
sleep 2
if [ "$rate" -gt 0 ]; then
    # Rounds of 5 s until the baseline is done: each round's -l log is complete.
    (cd "$dir" && until [ -e "$dir/done" ]; do
        "$bin/pgbench" -h "$dir" -p 5432 -U postgres -n -N -c 4 -j 2 -R "$rate" -T 5 -l postgres >/dev/null 2>&1; done) &
    pgbench=$!
fi
start=$(date +%s.%N)
"$walaudit" attach --source "$conn" pgbench_accounts >/dev/null
until [ "$(psql -At -c "SELECT count(*) FROM walaudit.event_log WHERE new_row->>'command_tag' = 'WALAUDIT BASELINE DONE'")" = 1 ]; do
    kill -0 "$worker" 2>/dev/null || { cat "$dir/worker.log"; exit 1; }
    sleep 0.5
done
baseline_seconds=$(echo "$(date +%s.%N) - $start" | bc)
max_latency="-"
if [ "$rate" -gt 0 ]; then
    touch "$dir/done"
    wait "$pgbench" 2>/dev/null || true
    # pgbench -l: the 3rd field is each transaction's latency in µs (with -R, from its scheduled start).
    max_latency=$(cat "$dir"/pgbench_log.* 2>/dev/null | awk 'BEGIN{m=0} {if ($3 > m) m = $3} END {printf "%.3f s", m / 1e6}')
fi
recorded=$(psql -At -c "SELECT rows_recorded || ' recorded, ' || rows_skipped || ' shown by their own events' FROM walaudit.baseline_progress")
echo "rows: $rows ($recorded)"
echo "COPY TO:  $(printf %.1f "$copy_seconds") s, $(echo "$rows / $copy_seconds" | bc) rows/s"
echo "baseline: $(printf %.1f "$baseline_seconds") s, $(echo "$rows / $baseline_seconds" | bc) rows/s (attach to the last SNAPSHOT stored)"
echo "writers: 4 pgbench clients (-N) at $rate TPS in all, slowest transaction during the baseline: $max_latency"
