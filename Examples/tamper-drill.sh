#!/usr/bin/env bash
# A tamper drill: as a superuser, change one stored value behind the
# append-only trigger's back, show `walaudit verify` naming the event, then
# put the value back (the chain verifies again). Run it on a test store only.
#
#   WALAUDIT_SOURCE='… user=postgres' Examples/tamper-drill.sh
set -euo pipefail
: "${WALAUDIT_SOURCE:?set WALAUDIT_SOURCE (a superuser on a TEST store)}"
store=${WALAUDIT_TARGET:-$WALAUDIT_SOURCE}
q() { psql "$store" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

seq=$(q -c "SELECT seq FROM walaudit.event_log WHERE operation IN ('INSERT', 'UPDATE') AND purged_at IS NULL ORDER BY seq DESC LIMIT 1")
[ -n "$seq" ] || { echo "no event with a payload to tamper with: make some changes first" >&2; exit 1; }
original=$(q -c "SELECT new_row::text FROM walaudit.event_log WHERE seq = $seq")
echo "tampering with seq $seq: $original"
q -c "ALTER TABLE walaudit.event_log DISABLE TRIGGER walaudit_append_only" \
  -c "UPDATE walaudit.event_log SET new_row = new_row || '{\"tampered\": true}' WHERE seq = $seq" \
  -c "ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only"

status=0
walaudit verify || status=$?
echo "walaudit verify exited $status (1 = tampered)"

echo "putting seq $seq back"
q -v original="$original" -v seq="$seq" <<'SQL'
ALTER TABLE walaudit.event_log DISABLE TRIGGER walaudit_append_only;
UPDATE walaudit.event_log SET new_row = :'original'::jsonb WHERE seq = :seq;
ALTER TABLE walaudit.event_log ENABLE ALWAYS TRIGGER walaudit_append_only;
SQL
walaudit verify
[ "$status" -eq 1 ]
