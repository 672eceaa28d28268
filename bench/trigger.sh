#!/usr/bin/env bash
# What the actor trigger costs the application per statement, the way an
# application pays it: pgbench (1 client, fsync off, so that commit I/O
# does not hide it) runs transactions of four single-row UPDATEs on a
# 100-row table, in one database per variant, the variants taking turns
# ROUNDS times (default 8): no audit; a classic trigger audit (AFTER ROW
# trigger inserting to_jsonb(OLD/NEW)); walaudit attached as built;
# walaudit with session 8's trigger (the seal's key in a table, read by a
# query at each statement); walaudit with an empty trigger body (what
# PostgreSQL charges for firing a SECURITY DEFINER plpgsql statement
# trigger with a SET clause). Prints each variant's minimum and median
# latency per transaction and, from the minima, µs per statement above no
# audit (for the walaudit variants, REPLICA IDENTITY FULL's larger WAL,
# which attach sets, included). (Until session 9 this bench ran 20,000 INSERTs in one
# transaction, which hides what each new transaction costs the trigger.)
#
#   bench/trigger.sh [ROUNDS] [TRANSACTIONS]      (default 8 3000)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-8}
transactions=${2:-3000}
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
walaudit="$(swift build -c release --show-bin-path)/walaudit"
source bench/cluster.sh
start_cluster trig fsync=off synchronous_commit=off
db="host=$dir port=5432 user=postgres dbname"
sql() { "$bin/psql" "$db=$1" -XAtq -v ON_ERROR_STOP=1 -c "$2" >/dev/null; }
variants=(none trigger_audit as_built session8 empty)
declare -A label=(
    [none]="no audit"
    [trigger_audit]="trigger audit (row trigger, to_jsonb)"
    [as_built]="walaudit as built (key in sequences)"
    [session8]="walaudit, session 8's trigger (key read by a query)"
    [empty]="walaudit, empty SECURITY DEFINER trigger with SET"
)
for v in "${variants[@]}"; do
    sql postgres "CREATE DATABASE $v"
    sql "$v" "CREATE TABLE t (id integer PRIMARY KEY, v integer); INSERT INTO t SELECT g, 0 FROM generate_series(1, 100) g"
    case $v in
    none) ;;
    trigger_audit)
        sql "$v" "CREATE TABLE audit_log (id bigserial PRIMARY KEY, table_name text NOT NULL, operation text NOT NULL,
                  old_row jsonb, new_row jsonb, changed_by text NOT NULL DEFAULT current_user, changed_at timestamptz NOT NULL DEFAULT now());
                  CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS \$\$
                  BEGIN
                      INSERT INTO audit_log (table_name, operation, old_row, new_row)
                      VALUES (TG_TABLE_NAME, TG_OP, CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END, CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
                      RETURN NULL;
                  END \$\$;
                  CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON t FOR EACH ROW EXECUTE FUNCTION audit_row()" ;;
    *)
        "$walaudit" setup --source "$db=$v" --slot "$v" >/dev/null
        "$walaudit" attach --no-baseline t --source "$db=$v" --slot "$v" >/dev/null ;;
    esac
done
sql session8 "CREATE TABLE walaudit.bench_seal_key (key bytea NOT NULL);
              INSERT INTO walaudit.bench_seal_key VALUES (sha256(uuid_send(gen_random_uuid())));
              CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$\$
              DECLARE seal text;
              BEGIN
                  seal := encode(sha256((SELECT k.key FROM walaudit.bench_seal_key k)
                      || convert_to(json_build_array(pg_current_xact_id(), pg_backend_pid(), session_user, walaudit.statement_role(),
                                                     current_setting('walaudit.actor', true), current_setting('walaudit.context', true),
                                                     current_setting('application_name'))::text, 'UTF8')), 'base64');
                  IF seal IS NULL OR current_setting('walaudit.emitted_actor', true) IS DISTINCT FROM seal THEN
                      PERFORM pg_logical_emit_message(true, 'walaudit.actor', walaudit.actor_message());
                      PERFORM set_config('walaudit.emitted_actor', seal, true);
                  END IF;
                  RETURN NULL;
              END \$\$"
sql empty "CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
           SET search_path = pg_catalog AS \$\$ BEGIN RETURN NULL; END \$\$"
cat >"$dir/transaction.sql" <<'SQL'
\set a random(1, 100)
BEGIN;
UPDATE t SET v = v + 1 WHERE id = :a;
UPDATE t SET v = v + 1 WHERE id = :a + 0;
UPDATE t SET v = v + 1 WHERE id = :a - 0;
UPDATE t SET v = v + 1 WHERE id = :a * 1;
END;
SQL
declare -A latencies
for _ in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
        latency=$("$bin/pgbench" -h "$dir" -p 5432 -U postgres -n -c 1 -f "$dir/transaction.sql" -t "$transactions" "$v" 2>&1 \
                  | awk '/latency average/ {print $4}')
        latencies[$v]="${latencies[$v]:-} $latency"
        case $v in none|trigger_audit) ;; *) sql "$v" "SELECT pg_replication_slot_advance('$v', pg_current_wal_lsn())" ;; esac
    done
done
echo "trigger: pgbench, 1 client, $rounds rounds of $transactions transactions of 4 single-row UPDATEs, fsync off; ms per transaction"
floor=$(echo ${latencies[none]} | tr ' ' '\n' | sort -n | head -1)
for v in "${variants[@]}"; do
    echo ${latencies[$v]} | tr ' ' '\n' | sort -n | awk -v name="${label[$v]}" -v floor="$floor" -v all="${latencies[$v]}" \
        '{ a[NR] = $1 } END { printf "  %s: min %.3f, median %.3f; %.1f us per statement above no audit (min); rounds:%s\n",
                               name, a[1], a[int((NR + 1) / 2)], (a[1] - floor) * 1000 / 4, all }'
done
