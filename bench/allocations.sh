#!/usr/bin/env bash
# Heap allocations per change: each binary (default: the release build)
# drains the same pgbench backlog (80k changes, store in another database)
# with a malloc counter preloaded (bench/mallocs.c), and the count is
# divided by the changes. Unlike CPU time on this VM, the count does not
# drift from run to run: it shows what a change to the worker's value path
# saves even when end-to-end timings cannot.
#
#   bench/allocations.sh [BINARY...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap >/dev/null
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    swift build -c release --product walaudit >/dev/null
    binaries=("$(swift build -c release --show-bin-path)/walaudit")
fi
source bench/cluster.sh
cleanup() { [ -n "${worker:-}" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true; }
start_cluster allocations
cc -O2 -shared -fPIC -o "$dir/mallocs.so" bench/mallocs.c -ldl
db="host=$dir port=5432 user=postgres dbname"
sql() { "$bin/psql" "$db=$1" -XAtq -c "$2"; }
"$bin/pgbench" -h "$dir" -p 5432 -U postgres -i -q -s 10 postgres >/dev/null 2>&1
for i in "${!binaries[@]}"; do
    sql postgres "CREATE DATABASE store_$i"
    "${binaries[$i]}" setup --source "$db=postgres" --target "$db=store_$i" --slot "s_$i" >/dev/null
done
"${binaries[0]}" attach --no-baseline pgbench_accounts pgbench_tellers pgbench_branches pgbench_history --source "$db=postgres" --slot s_0 >/dev/null
PGOPTIONS="-c synchronous_commit=off" "$bin/pgbench" -h "$dir" -p 5432 -U postgres -n -c 4 -j 2 -t 5000 postgres >/dev/null 2>&1
echo "allocations: malloc calls of walaudit run draining 80,000 pgbench changes (start-up included)"
for i in "${!binaries[@]}"; do
    rm -f "$dir/count"
    MALLOCS_OUT="$dir/count" LD_PRELOAD="$dir/mallocs.so" "${binaries[$i]}" run --source "$db=postgres" --target "$db=store_$i" --slot "s_$i" \
        >"$dir/worker.log" 2>&1 &
    worker=$!
    while [ "$(sql "store_$i" "SELECT coalesce(max(seq), 0) FROM walaudit.event_log")" -lt 80004 ]; do sleep 0.1; done
    kill "$worker"; wait "$worker" || true; worker=
    awk -v b="${binaries[$i]}" '{ printf "  %s: %d calls, %.1f per change\n", b, $1, $1 / 80000 }' "$dir/count"
done
