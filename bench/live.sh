#!/usr/bin/env bash
# Where the CPU goes at live rates (issue 18): pgbench at 4 clients for
# SECONDS (default 20) with `walaudit run` attached, the store in the source
# database and then in another one, ROUNDS times (default 2). Per pgbench
# transaction: the CPU of the worker, its walsender and its backends (the
# store's and the source's; from /proc), and the bytes of test_decoding
# output the slot's stream carried (a second slot, read after the run).
#
#   bench/live.sh [SECONDS] [ROUNDS] [BINARY...]
#
# With binaries named, each round runs each of them in turn (default: the
# release build), for side-by-side comparisons.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
rounds=${2:-2}
shift $(( $# < 2 ? $# : 2 ))
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
binaries=("$@")
[ ${#binaries[@]} -gt 0 ] || binaries=("$walaudit")
source bench/cluster.sh
cleanup() { [ -n "${worker:-}" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true; }
start_cluster live
psql -c "CREATE DATABASE app" -c "CREATE DATABASE store" >/dev/null
db="host=$dir port=5432 user=postgres dbname"
pgbench=("$bin/pgbench" -h "$dir" -p 5432 -U postgres)
"${pgbench[@]}" -i -q -s 10 app >/dev/null 2>&1
"$walaudit" setup --source "$db=app" --slot same >/dev/null
"$walaudit" setup --source "$db=app" --target "$db=store" --slot other >/dev/null
"$walaudit" attach --no-baseline pgbench_accounts pgbench_tellers pgbench_branches pgbench_history --source "$db=app" --slot same >/dev/null
ticks() { awk '{print $14 + $15}' "/proc/${1:?}/stat" 2>/dev/null || echo 0; }
sql() { "$bin/psql" "$db=app" -XAtq -c "$1"; }
echo "live: pgbench, 4 clients, ${seconds} s per run; per transaction: CPU ms of the worker, its walsender, its backends; stream bytes"
for _ in $(seq "$rounds"); do
    for placement in same other; do for binary in "${binaries[@]}"; do
        target=(); [ "$placement" = other ] && target=(--target "$db=store")
        "$binary" run --source "$db=app" "${target[@]}" --slot "$placement" >"$dir/worker.log" 2>&1 &
        worker=$!
        sleep 3
        "$bin/vacuumdb" -q -h "$dir" -p 5432 -U postgres app
        sql "CHECKPOINT"
        sql "SELECT pg_create_logical_replication_slot('peek', 'test_decoding')" >/dev/null
        walsender=$(sql "SELECT active_pid FROM pg_replication_slots WHERE slot_name = '$placement'")
        backends=$(sql "SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE application_name = 'walaudit-worker' AND backend_type = 'client backend'")
        backendTicks() { local sum=0; for pid in $backends; do sum=$((sum + $(ticks "$pid"))); done; echo $sum; }
        w0=$(ticks "$worker"); s0=$(ticks "$walsender"); b0=$(backendTicks)
        out=$("${pgbench[@]}" -n -c 4 -j 2 -T "$seconds" app 2>&1)
        sleep 1
        w1=$(ticks "$worker"); s1=$(ticks "$walsender"); b1=$(backendTicks)
        n=$(echo "$out" | awk '/actually processed/ {split($6, a, "/"); print a[1]}')
        bytes=$(sql "SELECT sum(octet_length(data)) FROM pg_logical_slot_get_changes('peek', NULL, NULL, 'skip-empty-xacts', '1', 'include-xids', '1', 'include-timestamp', '1')")
        sql "SELECT pg_drop_replication_slot('peek')" >/dev/null
        [ ${#binaries[@]} -gt 1 ] && echo "  $binary:"
        awk -v p="$placement" -v tps="$(echo "$out" | awk '/^tps/ {print $3}')" -v n="$n" -v w=$((w1 - w0)) -v s=$((s1 - s0)) -v b=$((b1 - b0)) -v bytes="$bytes" \
            'BEGIN { printf "  store in %s database: %.0f TPS; worker %.3f, walsender %.3f, its backends (store, source) %.3f ms; %.0f bytes of stream\n",
                     p == "same" ? "the source" : "another", tps, w * 10 / n, s * 10 / n, b * 10 / n, bytes / n }'
        kill "$worker"; wait "$worker" || true; worker=
    done; done
done
