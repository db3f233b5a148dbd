-- Version 4: background tasks (endpoint recovery, bulk replay). Each task is a replay over a
-- filter of the application's messages; a node leases it (lease_token, lease_until) and runs it
-- in batches. Each batch queues its deliveries and moves the cursor (the last message/endpoint
-- pair queued) in one transaction, so a task whose node died is resumed by another node exactly
-- where it stopped, once its lease is over.
CREATE TABLE background_task (
    id                 text COLLATE "C" PRIMARY KEY,
    app_id             text NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    kind               text NOT NULL,
    status             text NOT NULL,
    endpoint_id        text COLLATE "C",
    event_types        text[],
    selection          bigint NOT NULL,
    since              bigint NOT NULL,
    until              bigint,
    cursor_msg_id      text COLLATE "C",
    cursor_endpoint_id text COLLATE "C",
    messages_sent      bigint NOT NULL DEFAULT 0,
    batches            bigint NOT NULL DEFAULT 0,
    error              text,
    lease_token        bigint,
    lease_until        bigint,
    created_at         bigint NOT NULL,
    updated_at         bigint NOT NULL
);
CREATE INDEX background_task_running ON background_task(id) WHERE status = 'running';
