#!/usr/bin/env bash
# Two walaudit binaries drain the same pgbench backlog (320k changes, or
# 16 × TRANSACTIONS: pgbench's 4 clients each run TRANSACTIONS of 4 changes),
# alternately, REPS times each, each into a store database of its own
# (set up by that binary), with pg_recvlogical decoding the backlog
# between runs; per run: the drain's wall time from process start, the CPU
# of the worker, its store backend and its walsender (/proc), and the WAL
# records the drain wrote (pg_waldump --stats over the drain).
#
#   bench/ingest-ab.sh BINARY_A BINARY_B [REPS] [TRANSACTIONS]      (default 3 20000)
#
# Each line ends with the worker's CPU relative to the other binary's run
# next to it (the VM's speed drifts within minutes: compare neighbours).
set -euo pipefail
cd "$(dirname "$0")/.."
binaries=("$1" "$2")
reps=${3:-3}
transactions=${4:-20000}
changes=$((transactions * 16))
source bench/cluster.sh
cleanup() { [ -n "${worker:-}" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true; }
start_cluster ab max_replication_slots=$((reps * 4 + 4)) max_wal_senders=$((reps * 4 + 4))
db="host=$dir port=5432 user=postgres dbname"
sql() { "$bin/psql" "$db=$1" -XAtq -c "$2"; }
"$bin/pgbench" -h "$dir" -p 5432 -U postgres -i -q -s 10 postgres >/dev/null 2>&1
for r in $(seq "$reps"); do for i in 0 1; do
    sql postgres "CREATE DATABASE store_${r}_$i"
    "${binaries[$i]}" setup --source "$db=postgres" --target "$db=store_${r}_$i" --slot "s_${r}_$i" >/dev/null
done; done
"${binaries[0]}" attach --no-baseline pgbench_accounts pgbench_tellers pgbench_branches pgbench_history --source "$db=postgres" --slot s_1_0 >/dev/null
for k in $(seq 0 $((reps * 2))); do sql postgres "SELECT pg_create_logical_replication_slot('copy$k', 'test_decoding')" >/dev/null; done
PGOPTIONS="-c synchronous_commit=off" "$bin/pgbench" -h "$dir" -p 5432 -U postgres -n -c 4 -j 2 -t "$transactions" postgres >/dev/null 2>&1
end=$(sql postgres "SELECT pg_current_wal_lsn()")
k=0
decode() {
    local start=$(date +%s%N)
    "$bin/pg_recvlogical" -d "$db=postgres" --slot "copy$k" --start --endpos "$end" --no-loop -o include-xids=1 -o include-timestamp=1 \
        -o skip-empty-xacts=1 -f /dev/null
    echo "  pg_recvlogical: $(( ($(date +%s%N) - start) / 1000000 )) ms"
    k=$((k + 1))
}
ticks() { awk '{print ($14 + $15) * 10}' "/proc/${1:?}/stat"; }
decode
for r in $(seq "$reps"); do for i in 0 1; do
    store="store_${r}_$i"
    from=$(sql postgres "SELECT pg_current_wal_lsn()")
    start=$(date +%s%N)
    "${binaries[$i]}" run --source "$db=postgres" --target "$db=$store" --slot "s_${r}_$i" >"$dir/worker.log" 2>&1 &
    worker=$!
    while [ "$(sql "$store" "SELECT coalesce(max(seq), 0) FROM walaudit.event_log")" -lt $((changes + 4)) ]; do sleep 0.1; done
    wall=$(( ($(date +%s%N) - start) / 1000000 ))
    backend=$(sql postgres "SELECT pid FROM pg_stat_activity WHERE application_name = 'walaudit-worker' AND backend_type = 'client backend' AND datname = '$store'")
    walsender=$(sql postgres "SELECT active_pid FROM pg_replication_slots WHERE slot_name = 's_${r}_$i'")
    workerCPU=$(ticks "$worker")
    cpu="worker $workerCPU store backend $(ticks "$backend") walsender $(ticks "$walsender")"
    kill "$worker"; wait "$worker" || true; worker=
    to=$(sql postgres "SELECT pg_current_wal_lsn()")
    sql postgres "CHECKPOINT"
    records=$("${as_pg[@]}" "$bin/pg_waldump" -p "$dir/data/pg_wal" -s "$from" -e "$to" --stats=record 2>/dev/null \
              | awk '/^Total/ {total = $2} /^Heap\/INSERT|^Heap2\/MULTI_INSERT/ {heap += $2} END {printf "%d WAL records, %d of them heap inserts", total, heap}')
    relative=""
    [ "$i" = 1 ] && relative=$(awk -v b="$workerCPU" -v a="$previousCPU" 'BEGIN { printf "; worker CPU / binary 1 just before: %.2f", b / a }')
    previousCPU=$workerCPU
    echo "  binary $((i + 1)): $wall ms; CPU ms $cpu; $records$relative"
    while [ "$(sql postgres "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'walaudit-worker'")" != 0 ]; do sleep 0.05; done
    decode
done; done
