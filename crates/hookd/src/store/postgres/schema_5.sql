-- Version 5: what each attempt sent and received (request headers with credentials redacted,
-- response headers) and the node that made it; and indexes for the retention purge and the
-- dead-letter view, which would otherwise scan whole tables.
ALTER TABLE attempt ADD COLUMN request_headers text;
ALTER TABLE attempt ADD COLUMN response_headers text;
ALTER TABLE attempt ADD COLUMN node_id text;
CREATE INDEX IF NOT EXISTS message_with_payload_by_age ON message(created_at)
    WHERE payload IS NOT NULL;
CREATE INDEX IF NOT EXISTS attempt_by_age ON attempt(created_at);
CREATE INDEX IF NOT EXISTS delivery_dead_by_app ON delivery(app_id) WHERE status IN (2, 9);
