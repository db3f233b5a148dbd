-- Polling endpoints: the position (in the application's stream order, `store::streams`) that
-- each named consumer of a polling endpoint has committed. Times are microseconds since the
-- epoch.
CREATE TABLE IF NOT EXISTS poller_consumer (
    endpoint_id         TEXT NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    consumer_id         TEXT NOT NULL,
    position_commit     INTEGER NOT NULL,
    position_message_id TEXT NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
);
