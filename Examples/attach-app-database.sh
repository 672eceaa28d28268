#!/usr/bin/env bash
# Attach walaudit to an application database: schema and slot, the tables to
# audit (one with a masked and an excluded column), a key pair for signed
# checkpoints, and the worker in the background.
#
#   WALAUDIT_SOURCE='host=… dbname=shop user=postgres' Examples/attach-app-database.sh [STATE_DIR]
set -euo pipefail
: "${WALAUDIT_SOURCE:?set WALAUDIT_SOURCE to the application database (a superuser for setup)}"
state=${1:-./walaudit-state}
mkdir -p "$state"

walaudit setup
# The sample application schema; on your database, attach your own tables.
psql "$WALAUDIT_SOURCE" -X -q -v ON_ERROR_STOP=1 <<'SQL'
CREATE TABLE IF NOT EXISTS customers (id integer PRIMARY KEY, name text, email text, password_hash text);
CREATE TABLE IF NOT EXISTS orders (id integer PRIMARY KEY, customer_id integer, amount numeric(10,2), status text);
SQL
# --mask and --exclude name one column each; repeat them for more.
walaudit attach public.customers --mask email --exclude password_hash
walaudit attach public.orders

[ -f "$state/signing.key" ] || walaudit keygen --out "$state/signing.key"
walaudit run --checkpoint-dir "$state/checkpoints" --signing-key "$state/signing.key" \
    --checkpoint-interval 2 >"$state/worker.log" 2>&1 &
echo $! >"$state/worker.pid"
echo "worker running (pid $(cat "$state/worker.pid"), log $state/worker.log); stop it with: kill \$(cat $state/worker.pid)"

# Some changes by an application user, as the application would make them.
psql "$WALAUDIT_SOURCE" -X -q -v ON_ERROR_STOP=1 <<'SQL'
BEGIN;
SELECT walaudit.set_actor('alice@example.com', '{"request_id": "r-1"}');
INSERT INTO customers VALUES (1, 'ACME', 'buyer@acme.example', 'x') ON CONFLICT DO NOTHING;
INSERT INTO orders VALUES (1, 1, 120.00, 'new') ON CONFLICT DO NOTHING;
COMMIT;
UPDATE orders SET status = 'paid', amount = 118.50 WHERE id = 1;
SQL
sleep 3
walaudit status
