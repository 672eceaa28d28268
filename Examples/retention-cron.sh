#!/usr/bin/env bash
# Retention: set the policies once (a walaudit_admin login), then what a
# nightly cron job runs. Holds keep what they match, whatever the policy.
#
#   WALAUDIT_SOURCE='…' Examples/retention-cron.sh
set -euo pipefail
: "${WALAUDIT_SOURCE:?set WALAUDIT_SOURCE (and WALAUDIT_TARGET for a separate store)}"
store=${WALAUDIT_TARGET:-$WALAUDIT_SOURCE}

psql "$store" -X -q -At -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET walaudit.actor = 'dpo@example.com';                                  -- recorded in the POLICY events
SELECT walaudit.set_retention('public.orders', '7 years', 'compliance'); -- can only ever grow
SELECT walaudit.set_retention('public.customers', '30 days');            -- governance: admins may change it
SELECT walaudit.place_legal_hold('example-dispute', 'customer 1 disputes order 1', 'public.orders', '{"id": 1}')
WHERE NOT EXISTS (SELECT 1 FROM walaudit.legal_holds WHERE name = 'example-dispute' AND active);
SQL

# The nightly job (e.g. /etc/cron.d: 15 3 * * * walaudit retention apply --actor retention-cron):
walaudit retention apply --dry-run --actor retention-cron
walaudit retention apply --actor retention-cron --json
