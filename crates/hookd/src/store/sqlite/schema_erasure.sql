-- Erasure and usage statistics (issue 14). `app_ids` is the JSON list of applications an
-- `application.stats` task counts (NULL: every application). `usage_stat_row` holds a usage
-- task's result, one row per application, written by the batch that counted it: for
-- `application.stats` the message destinations in the window, for `event-type.aggregate` the
-- event types its endpoints name (JSON list) and whether one of them takes every type.
-- Environment-wide tasks are filed under the internal application `app_operational`, which is
-- never deleted; only the admin reads them.
ALTER TABLE background_task ADD COLUMN app_ids TEXT;
CREATE TABLE IF NOT EXISTS usage_stat_row (
    task_id              TEXT NOT NULL REFERENCES background_task(id) ON DELETE CASCADE,
    app_id               TEXT NOT NULL,
    app_uid              TEXT,
    message_destinations INTEGER NOT NULL,
    event_types          TEXT NOT NULL,
    has_catch_all        INTEGER NOT NULL,
    PRIMARY KEY (task_id, app_id)
);
