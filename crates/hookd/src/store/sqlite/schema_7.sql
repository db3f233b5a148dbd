-- Version 7: idempotency records expire and forget. Each stored answer remembers the message it
-- created (msg_id) and how it reads once that message's content is expunged (expunged_body), so
-- expunging or purging a payload erases it from the answer too; records older than the
-- idempotency window are found by age and deleted by the retention sweep.
ALTER TABLE idempotency ADD COLUMN msg_id TEXT;
ALTER TABLE idempotency ADD COLUMN expunged_body BLOB;
CREATE INDEX IF NOT EXISTS idempotency_by_msg ON idempotency(msg_id) WHERE msg_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency(created_at);
