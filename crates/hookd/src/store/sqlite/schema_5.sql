-- Version 5: background tasks (endpoint recovery, bulk replay). Each task is a replay over a
-- filter of the application's messages; a runner leases it (lease_token, lease_until) and runs it
-- in batches. Each batch queues its deliveries and moves the cursor (the last message/endpoint
-- pair queued) in one transaction, so a task whose runner died resumes exactly where it stopped.
CREATE TABLE IF NOT EXISTS background_task (
    id                 TEXT PRIMARY KEY,
    app_id             TEXT NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    kind               TEXT NOT NULL,
    status             TEXT NOT NULL,
    endpoint_id        TEXT,
    event_types        TEXT,
    selection          INTEGER NOT NULL,
    since              INTEGER NOT NULL,
    until              INTEGER,
    cursor_msg_id      TEXT,
    cursor_endpoint_id TEXT,
    messages_sent      INTEGER NOT NULL DEFAULT 0,
    batches            INTEGER NOT NULL DEFAULT 0,
    error              TEXT,
    lease_token        INTEGER,
    lease_until        INTEGER,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS background_task_running ON background_task(id) WHERE status = 'running';
