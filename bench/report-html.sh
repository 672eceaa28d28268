#!/usr/bin/env bash
# `walaudit report --html` on a large store: N synthetic events (default
# 10,000,000) loaded as a real chain by report-bench (bench/ReportBench:
# one year, 10 tables, 200 actors, a few DDL, POLICY and GAP events), in a
# throwaway cluster. Times `walaudit verify` alone, then the report of
# everything and of one table's month; both verify the whole chain first.
# The two pages are kept in bench/out/ (not committed) to look at.
#
#   bench/report-html.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
swift build -c release --product report-bench >/dev/null
bin_path="$(swift build -c release --show-bin-path)"
walaudit="$bin_path/walaudit"
bin=/usr/lib/postgresql/15/bin

dir=$(mktemp -d /tmp/walaudit-report-html-XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as_pg=(runuser -u postgres --); fi
cleanup() { "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-c wal_level=logical -c listen_addresses='' \
    -c unix_socket_directories=$dir -c port=5432 -c fsync=off -c max_wal_size=8GB -c shared_buffers=256MB" start >/dev/null
conn="host=$dir port=5432 user=postgres dbname=postgres"
psql() { command psql "$conn" -X -q -v ON_ERROR_STOP=1 "$@"; }

"$walaudit" setup --source "$conn" --slot report >/dev/null
echo "report-html-bench: $(nproc) cores, $(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1048576)) GiB; $("$bin_path/report-bench" "$conn" "$events")"
psql -c "VACUUM ANALYZE walaudit.event_log"

# Seconds, with milliseconds, that a command takes.
timed() {
    local start_ns
    start_ns=$(date +%s%N)
    "$@" >"$dir/out"
    echo "$(( ($(date +%s%N) - start_ns) / 1000000 ))" | awk '{printf "%.1f", $1 / 1000}'
}
verify_s=$(timed "$walaudit" verify --source "$conn" --slot report)
echo "  walaudit verify: $(head -1 "$dir/out") in $verify_s s"
all_s=$(timed "$walaudit" report --html "$dir/all.html" --source "$conn" --slot report)
echo "  walaudit report --html (all $events events): $all_s s, $(( $(stat -c %s "$dir/all.html") / 1024 )) KiB; $(cat "$dir/out")"
grep -o 'verifying took [0-9.]* s, reading the report [0-9.]* s' "$dir/all.html" | sed 's/^/    /'
month_s=$(timed "$walaudit" report --html "$dir/month.html" --since 2026-06-01 --until 2026-07-01 --table public.t3 --source "$conn" --slot report)
echo "  walaudit report --html --since 2026-06-01 --until 2026-07-01 --table public.t3: $month_s s, $(( $(stat -c %s "$dir/month.html") / 1024 )) KiB"
grep -o 'verifying took [0-9.]* s, reading the report [0-9.]* s' "$dir/month.html" | sed 's/^/    /'
mkdir -p bench/out
cp "$dir/all.html" bench/out/report-all.html
cp "$dir/month.html" bench/out/report-month.html
