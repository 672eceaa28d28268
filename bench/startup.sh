#!/usr/bin/env bash
# Start-up and first batch (issue 18): from the spawn of `walaudit run` to
# the first event of a waiting transaction stored, on an attached pgbench
# database whose slot holds one transaction; three times. The poll is a
# psql call, ~10 ms, so the figure is an upper bound.
#
#   bench/startup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
source bench/cluster.sh
cleanup() { [ -n "${worker:-}" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true; }
start_cluster startup
pgbench=("$bin/pgbench" -h "$dir" -p 5432 -U postgres)
"${pgbench[@]}" -i -q -s 1 postgres >/dev/null 2>&1
"$walaudit" setup --source "$conn" --slot startup >/dev/null
"$walaudit" attach --no-baseline pgbench_accounts pgbench_tellers pgbench_branches pgbench_history --source "$conn" --slot startup >/dev/null
stored() { "$bin/psql" "$conn" -XAt -c "SELECT coalesce(max(seq), 0) FROM walaudit.event_log"; }
for _ in 1 2 3; do
    before=$(stored)
    "${pgbench[@]}" -n -c 1 -t 1 postgres >/dev/null 2>&1
    start=$(date +%s%N)
    "$walaudit" run --source "$conn" --slot startup >/dev/null 2>&1 &
    worker=$!
    while [ "$(stored)" -le "$before" ]; do :; done
    echo "startup: process start to the first event stored: $(( ($(date +%s%N) - start) / 1000000 )) ms"
    kill "$worker"; wait "$worker" || true; worker=
done
