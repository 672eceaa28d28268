# Sourced by the bench scripts: a throwaway PostgreSQL 15 cluster in a
# temporary directory, on a Unix socket, wal_level=logical, run as the
# postgres user when this runs as root; stopped and removed on exit.
#
#   start_cluster NAME [postgres -c settings...]
# sets dir, conn, bin and psql (quiet, stops on error).
bin=/usr/lib/postgresql/15/bin
start_cluster() {
    local name=$1
    shift
    dir=$(mktemp -d "/tmp/walaudit-$name-XXXXXX")
    as_pg=()
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; chmod 777 "$dir"; as_pg=(runuser -u postgres --); fi
    trap stop_cluster EXIT
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -A trust -U postgres >/dev/null
    local settings="-c wal_level=logical -c listen_addresses='' -c unix_socket_directories=$dir -c port=5432"
    for setting in "$@"; do settings="$settings -c $setting"; done
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "$settings" start >/dev/null
    conn="host=$dir port=5432 user=postgres dbname=postgres"
}
# Runs the script's own `cleanup` first, if it defines one.
stop_cluster() {
    if declare -F cleanup >/dev/null; then cleanup; fi
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
psql() { command psql "$conn" -X -q -v ON_ERROR_STOP=1 "$@"; }
# The median of the numbers on standard input (separated by spaces or
# newlines), unrounded.
median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
