-- Checkpoints carry their C2SP tlog checkpoint (a signed note) too.
ALTER TABLE walaudit.checkpoint_log ADD COLUMN IF NOT EXISTS note text;
