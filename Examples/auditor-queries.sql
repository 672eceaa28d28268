-- Queries an auditor runs (as a member of walaudit_reader):
--   psql "$WALAUDIT_TARGET" -f Examples/auditor-queries.sql
\pset pager off

\echo '== The latest changes: who, what, when'
SELECT seq, event_time, operation, table_name, row_key, db_user, role_name, app_user, changed_columns
FROM walaudit.events ORDER BY seq DESC LIMIT 20;

\echo '== One row: its whole history, and what it looked like a second ago'
SELECT seq, event_time, operation, db_user, app_user, changed_columns, new_row
FROM walaudit.row_history('public.orders', '{"id": 1}');
SELECT walaudit.row_as_of('public.orders', '{"id": 1}', now() - interval '1 second') AS order_1_a_second_ago;

\echo '== The last day, by one application user'
SELECT seq, event_time, operation, table_name, row_key
FROM walaudit.changes(now() - interval '1 day', now() + interval '1 minute', actor => 'alice@example.com');

\echo '== Is the chain intact? (walaudit verify --checkpoints … --public-key … also checks the signed checkpoints)'
SELECT * FROM walaudit.verify_chain();

\echo '== Policies, holds, and every policy change'
SELECT * FROM walaudit.retention_policies;
SELECT name, active, reason, table_name, row_key, actor FROM walaudit.legal_holds;
SELECT seq, event_time, db_user, app_user, new_row FROM walaudit.events WHERE operation = 'POLICY' ORDER BY seq;

\echo '== Gaps in the trail (slot lost, table detached, capture torn down)'
SELECT seq, event_time, new_row FROM walaudit.events WHERE operation = 'GAP' ORDER BY seq;
