-- walaudit, audit store: what `walaudit status` looks up.
--
-- Gaps are rare and must be found at once on a log of any size.
CREATE INDEX IF NOT EXISTS event_log_gaps ON walaudit.event_log (seq) WHERE operation = 'GAP';
