#!/usr/bin/env bash
# What the actor trigger costs the application per statement: 20,000
# single-row INSERTs in one transaction into an attached table, with the
# trigger as built (one message per actor change; its memory seals the
# actor's changeable parts with the xid and pid, the message is built only
# on a change), as session 7 built it (the whole message sealed),
# with a message per statement (before session 7), and with an empty body;
# three passes.
#
#   bench/trigger.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap >/dev/null
swift build -c release --product walaudit >/dev/null
source bench/cluster.sh
start_cluster trig fsync=off
walaudit="$(swift build -c release --show-bin-path)/walaudit"
"$walaudit" setup --source "$conn" --slot trig >/dev/null
psql -c "CREATE TABLE t (id integer PRIMARY KEY, v integer)"
"$walaudit" attach t --source "$conn" --slot trig >/dev/null
run() {
  psql -c "TRUNCATE t" >/dev/null
  local s=$(date +%s%N)
  psql -c "DO \$\$ BEGIN FOR i IN 1..20000 LOOP INSERT INTO t VALUES (i, 0); END LOOP; END \$\$" >/dev/null
  echo "$1: $(( ($(date +%s%N) - s) / 20000 )) ns per INSERT statement (20,000 in one transaction)"
}
for i in 1 2 3; do
run "as built: the changeable actor sealed with xid and pid, message built on change"
psql -c "CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$\$ DECLARE message text := walaudit.actor_message(); seal text; BEGIN seal := encode(sha256((SELECT k.key FROM walaudit.actor_seal_key k) || convert_to(message, 'UTF8')), 'base64'); IF current_setting('walaudit.emitted_actor', true) IS DISTINCT FROM seal THEN PERFORM pg_logical_emit_message(true, 'walaudit.actor', message); PERFORM set_config('walaudit.emitted_actor', seal, true); END IF; RETURN NULL; END \$\$" >/dev/null
run "session 7: the whole message sealed"
psql -c "CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$\$ BEGIN PERFORM pg_logical_emit_message(true, 'walaudit.actor', walaudit.actor_message()); RETURN NULL; END \$\$" >/dev/null
run "a message per statement (before)"
psql -c "CREATE OR REPLACE FUNCTION walaudit.capture_actor() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS \$\$ BEGIN RETURN NULL; END \$\$" >/dev/null
run "empty trigger"
"$walaudit" setup --source "$conn" --slot trig >/dev/null
done
