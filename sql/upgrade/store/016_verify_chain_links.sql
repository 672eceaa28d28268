-- Upgrade, audit store: walaudit.verify_chain checks everything itself
-- (sql/store/04_verify_chain.sql); the helper it called is gone.
DROP FUNCTION walaudit.verify_chain_links(bigint, bigint);
