-- Version 13: polling endpoints: the position (in the application's stream order,
-- `store::streams`) that each named consumer of a polling endpoint has committed. Times are
-- microseconds since the epoch.
CREATE TABLE IF NOT EXISTS poller_consumer (
    endpoint_id         text NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    consumer_id         text NOT NULL,
    position_commit     bigint NOT NULL,
    position_message_id text NOT NULL,
    updated_at          bigint NOT NULL,
    PRIMARY KEY (endpoint_id, consumer_id)
);
