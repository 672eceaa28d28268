-- Upgrade, audit store: verifiers read the POLICY events before the chain,
-- to account for every purged payload, through a partial index of them.
CREATE INDEX IF NOT EXISTS event_log_policies ON walaudit.event_log (seq) WHERE operation = 'POLICY';
