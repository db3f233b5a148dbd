-- Version 2: per-endpoint scheduling. Each endpoint with pending deliveries has one row in
-- endpoint_queue whose next_due is never later than its earliest pending delivery (writes that
-- make a delivery due earlier lower it; claims recompute it). The dispatcher walks this small
-- table instead of the whole delivery queue, so one endpoint's backlog cannot hide another's work.

ALTER TABLE endpoint ADD COLUMN max_in_flight INTEGER;
ALTER TABLE endpoint ADD COLUMN ordered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoint ADD COLUMN retry_schedule TEXT;
ALTER TABLE endpoint ADD COLUMN auth TEXT;

CREATE TABLE IF NOT EXISTS endpoint_queue (
    endpoint_id TEXT PRIMARY KEY REFERENCES endpoint(id) ON DELETE CASCADE,
    app_id      TEXT NOT NULL,
    next_due    INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS endpoint_queue_due ON endpoint_queue(next_due);
CREATE INDEX IF NOT EXISTS delivery_endpoint_due ON delivery(endpoint_id, next_attempt_at)
    WHERE status = 1;
CREATE INDEX IF NOT EXISTS delivery_endpoint_order ON delivery(endpoint_id, id) WHERE status = 1;

INSERT INTO endpoint_queue (endpoint_id, app_id, next_due)
    SELECT endpoint_id, app_id, MIN(next_attempt_at) FROM delivery WHERE status = 1
    GROUP BY endpoint_id;
