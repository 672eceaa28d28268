#!/usr/bin/env bash
# How far a faster worker or store could take source TPS: pgbench (scale
# 10) against a classic trigger audit and against walaudit's source side
# with a consumer that costs nothing downstream, each configuration in a
# database of its own, in interleaved rounds (the order rotates each round,
# so the VM's drift spreads over all of them):
#
#   no audit
#   trigger audit               AFTER ROW trigger inserting to_jsonb(OLD/NEW)
#   RI FULL + pg_recvlogical    no walaudit objects: REPLICA IDENTITY FULL
#                               (attach sets it: old rows need it) and
#                               pg_recvlogical decoding the slot to /dev/null
#   attached + pg_recvlogical   walaudit attached (actor trigger, RI FULL),
#                               its stream decoded to /dev/null: what any
#                               worker and store would cost at best
#   walaudit                    attached and running, store in another database
#
# Before each timed round the configuration's consumer is started and its
# slot waited on until it has confirmed everything written so far (the
# other databases' rounds left it WAL to read through; decoding it must
# not overlap the timing). Prints median TPS and the median of each
# configuration's per-round ratio to the trigger audit (PRODUCT.md §7:
# walaudit >= 1.0x with 4 clients, >= 1.3x with 1).
#
#   bench/bound.sh [CLIENTS] [ROUNDS] [SECONDS]      (default 4 3 15)
set -euo pipefail
cd "$(dirname "$0")/.."
clients=${1:-4}
rounds=${2:-3}
seconds=${3:-15}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
source bench/cluster.sh
cleanup() { for p in ${consumer:-}; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done; }
start_cluster bound
db="host=$dir port=5432 user=postgres dbname"
sql() { "$bin/psql" "$db=$1" -XAtq -v ON_ERROR_STOP=1 -c "$2"; }
tables=(pgbench_accounts pgbench_tellers pgbench_branches pgbench_history)
for d in plain audited fullri attached running; do
    sql postgres "CREATE DATABASE $d"
    "$bin/pgbench" -h "$dir" -p 5432 -U postgres -i -q -s 10 "$d" >/dev/null 2>&1
done
sql audited "CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text NOT NULL, operation text NOT NULL,
             old_row jsonb, new_row jsonb, changed_by text NOT NULL DEFAULT current_user, changed_at timestamptz NOT NULL DEFAULT now());
             CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
             BEGIN
                 INSERT INTO audit_log (table_name, operation, old_row, new_row)
                 VALUES (TG_TABLE_NAME, TG_OP, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
                 RETURN NULL;
             END \$\$"
for t in "${tables[@]}"; do
    sql audited "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON $t FOR EACH ROW EXECUTE FUNCTION audit_row()"
    sql fullri "ALTER TABLE $t REPLICA IDENTITY FULL"
done
sql fullri "SELECT pg_create_logical_replication_slot('free_full', 'test_decoding')" >/dev/null
sql postgres "CREATE DATABASE store"
"$walaudit" setup --source "$db=attached" --slot walaudit_attached >/dev/null
"$walaudit" attach --no-baseline "${tables[@]}" --source "$db=attached" --slot walaudit_attached >/dev/null
"$walaudit" setup --source "$db=running" --target "$db=store" --slot walaudit_running >/dev/null
"$walaudit" attach --no-baseline "${tables[@]}" --source "$db=running" --slot walaudit_running >/dev/null

# A consumer for the configuration's slot, if it has one (its pid in `consumer`).
declare -A slot_of=([fullri]=free_full [attached]=walaudit_attached [running]=walaudit_running)
start_consumer() {
    consumer=
    case $1 in
    fullri|attached)
        # -F 0 -s 1: report each second what it has written (to /dev/null), so the slot's position shows its progress.
        "$bin/pg_recvlogical" -d "$db=$1" --slot "${slot_of[$1]}" --start -o include-xids=1 -o include-timestamp=1 \
            -o skip-empty-xacts=1 -F 0 -s 1 -f /dev/null &
        consumer=$! ;;
    running)
        "$walaudit" run --source "$db=running" --target "$db=store" --slot walaudit_running >"$dir/worker.log" 2>&1 &
        consumer=$! ;;
    esac
    if [ -n "$consumer" ]; then wait_caught_up "${slot_of[$1]}" "$1"; fi
}
# Until SLOT has confirmed all WAL written before this call (at most 10
# minutes), its consumer (for CONFIG) alive throughout.
wait_caught_up() {
    local target caught
    target=$(sql postgres "SELECT pg_current_wal_lsn()")
    for _ in $(seq 3000); do
        caught=$(sql postgres "SELECT confirmed_flush_lsn >= '$target' FROM pg_replication_slots WHERE slot_name = '$1'")
        if [ "$caught" = t ]; then return; fi
        if ! kill -0 "$consumer" 2>/dev/null; then
            echo "bound: the consumer of $2 (slot $1) exited" >&2
            if [ "$2" = running ]; then cat "$dir/worker.log" >&2; fi
            exit 1
        fi
        sleep 0.2
    done
    echo "bound: slot $1 did not catch up with $target in 10 minutes" >&2
    exit 1
}
stop_consumer() { if [ -n "$consumer" ]; then kill "$consumer"; wait "$consumer" || true; consumer=; fi; }

configs=(plain audited fullri attached running)
declare -A label=([plain]="no audit" [audited]="trigger audit" [fullri]="RI FULL + pg_recvlogical"
                  [attached]="attached + pg_recvlogical" [running]="walaudit")
declare -A results tpsOf
for r in $(seq "$rounds"); do
    for i in "${!configs[@]}"; do
        c=${configs[$(( (i + r - 1) % ${#configs[@]} ))]}
        start_consumer "$c"
        sql postgres CHECKPOINT >/dev/null
        "$bin/pgbench" -h "$dir" -p 5432 -U postgres -n -c "$clients" -j "$(( clients < 2 ? clients : 2 ))" -T "$seconds" "$c" \
            >"$dir/pgbench.out" 2>"$dir/pgbench.err" || { cat "$dir/pgbench.err" >&2; exit 1; }
        tps=$(awk '/^tps/ {print $3; exit}' "$dir/pgbench.out")
        if [ -z "$tps" ]; then echo "bound: pgbench printed no TPS for $c" >&2; cat "$dir/pgbench.out" >&2; exit 1; fi
        stop_consumer
        results[$c]="${results[$c]:-} $tps"
        tpsOf[$c,$r]=$tps
    done
done
echo "bound: pgbench, $clients client(s), scale 10, $rounds rounds of $seconds s, interleaved, slots caught up before each;"
echo "       median TPS (each round's); median of the per-round ratios to the trigger audit (each round's)"
for c in "${configs[@]}"; do
    ratios=$(for r in $(seq "$rounds"); do echo "${tpsOf[$c,$r]} / ${tpsOf[audited,$r]}" | bc -l; done | xargs)
    printf '  %-28s %7.0f TPS (%s)  %.2f (%s)\n' "${label[$c]}" "$(echo "${results[$c]}" | median)" \
        "$(echo "${results[$c]}" | xargs printf '%.0f ' | sed 's/ $//')" "$(echo "$ratios" | median)" \
        "$(printf '%.2f ' $ratios | sed 's/ $//')"
done
