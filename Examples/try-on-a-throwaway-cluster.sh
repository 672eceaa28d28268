#!/usr/bin/env bash
# Runs every example in order against a throwaway PostgreSQL cluster (as the
# postgres user when run as root), then removes it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap >/dev/null
export PATH="$(swift build --show-bin-path):$PATH"
bin=/usr/lib/postgresql/15/bin
dir=$(mktemp -d /tmp/walaudit-examples-XXXXXX)
as_pg=()
if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; as_pg=(runuser -u postgres --); fi
cleanup() {
    [ -f "$dir/state/worker.pid" ] && kill "$(cat "$dir/state/worker.pid")" 2>/dev/null && sleep 1
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-c wal_level=logical -c listen_addresses='' -c unix_socket_directories=$dir -c port=5432" start >/dev/null
export WALAUDIT_SOURCE="host=$dir port=5432 user=postgres dbname=postgres"

Examples/attach-app-database.sh "$dir/state"
psql "$WALAUDIT_SOURCE" -X -f Examples/auditor-queries.sql
Examples/retention-cron.sh
Examples/tamper-drill.sh
echo "all examples ran"
