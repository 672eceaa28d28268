-- Upgrade, source database: the actor trigger's seal key moved from a
-- table to two sequences (sql/source/02_actor.sql), which the trigger reads
-- without a query. The new key is drawn by the definitions that follow;
-- seals are transaction-local, so none made under the old key outlives it.
DROP TABLE IF EXISTS walaudit.actor_seal_key;
