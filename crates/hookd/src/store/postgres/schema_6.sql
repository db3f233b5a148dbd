-- Version 6: idempotency records expire and forget (and pending deliveries are found by the
-- node that leased them). Each stored answer remembers the message it
-- created (msg_id) and how it reads once that message's content is expunged (expunged_body), so
-- expunging or purging a payload erases it from the answer too; records older than the
-- idempotency window are found by age and deleted by the retention sweep.
ALTER TABLE idempotency ADD COLUMN msg_id text COLLATE "C";
ALTER TABLE idempotency ADD COLUMN expunged_body bytea;
CREATE INDEX idempotency_by_msg ON idempotency(msg_id) WHERE msg_id IS NOT NULL;
CREATE INDEX idempotency_by_age ON idempotency(created_at);
-- A node that starts under a dead node's name releases that node's leases; find them by name
-- instead of scanning every pending delivery.
CREATE INDEX delivery_leased_by ON delivery(leased_by) WHERE status = 1 AND leased_by IS NOT NULL;
