-- hookd's SQLite schema, version 1. Times are microseconds since the Unix epoch (UTC).
-- JSON columns hold arrays or objects written by hookd itself.

CREATE TABLE IF NOT EXISTS application (
    id            TEXT PRIMARY KEY,
    uid           TEXT UNIQUE,
    name          TEXT NOT NULL,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS endpoint (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    uid           TEXT,
    url           TEXT NOT NULL,
    description   TEXT NOT NULL,
    version       INTEGER NOT NULL,
    disabled      INTEGER NOT NULL,
    event_types   TEXT,
    channels      TEXT,
    throttle_rate INTEGER,
    metadata      TEXT NOT NULL,
    headers       TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (app_id, uid)
);
CREATE INDEX IF NOT EXISTS endpoint_by_app ON endpoint(app_id, id);

CREATE TABLE IF NOT EXISTS endpoint_secret (
    endpoint_id TEXT NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    key         TEXT NOT NULL,
    -- NULL for the current secret; a rotated-out secret signs until this time.
    expires_at  INTEGER,
    created_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS endpoint_secret_by_endpoint ON endpoint_secret(endpoint_id);

CREATE TABLE IF NOT EXISTS event_type (
    name         TEXT PRIMARY KEY,
    description  TEXT NOT NULL,
    deprecated   INTEGER NOT NULL,
    archived     INTEGER NOT NULL,
    schemas      TEXT,
    feature_flag TEXT,
    group_name   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS message (
    id         TEXT PRIMARY KEY,
    app_id     TEXT NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    event_type TEXT NOT NULL,
    event_id   TEXT,
    payload    TEXT,
    channels   TEXT NOT NULL,
    tags       TEXT NOT NULL,
    deliver_at INTEGER,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS message_by_app ON message(app_id, id);
CREATE UNIQUE INDEX IF NOT EXISTS message_event_id ON message(app_id, event_id)
    WHERE event_id IS NOT NULL;

-- One row per message and endpoint (plus one per manual resend). status: 0 success, 1 pending,
-- 2 failed, 9 parked (its endpoint was disabled when it fell due). A pending delivery is due at
-- next_attempt_at; claiming it moves next_attempt_at to the end of the lease, so a crashed
-- worker's delivery falls due again by itself.
CREATE TABLE IF NOT EXISTS delivery (
    id              TEXT PRIMARY KEY,
    app_id          TEXT NOT NULL,
    msg_id          TEXT NOT NULL REFERENCES message(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    status          INTEGER NOT NULL,
    trigger_type    INTEGER NOT NULL,
    attempts_made   INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_token     INTEGER
);
CREATE INDEX IF NOT EXISTS delivery_due ON delivery(next_attempt_at) WHERE status = 1;
CREATE INDEX IF NOT EXISTS delivery_by_msg ON delivery(msg_id);
CREATE INDEX IF NOT EXISTS delivery_by_endpoint ON delivery(endpoint_id);

CREATE TABLE IF NOT EXISTS attempt (
    id                   TEXT PRIMARY KEY,
    app_id               TEXT NOT NULL,
    msg_id               TEXT NOT NULL REFERENCES message(id) ON DELETE CASCADE,
    endpoint_id          TEXT NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    url                  TEXT NOT NULL,
    status               INTEGER NOT NULL,
    response_status_code INTEGER NOT NULL,
    response             TEXT NOT NULL,
    response_duration_ms INTEGER NOT NULL,
    failure_code         TEXT,
    trigger_type         INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS attempt_by_msg ON attempt(msg_id, id);
CREATE INDEX IF NOT EXISTS attempt_by_endpoint ON attempt(endpoint_id, id);

CREATE TABLE IF NOT EXISTS idempotency (
    key            TEXT PRIMARY KEY,
    request_digest TEXT NOT NULL,
    status         INTEGER NOT NULL,
    body           BLOB NOT NULL,
    created_at     INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS setting (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
