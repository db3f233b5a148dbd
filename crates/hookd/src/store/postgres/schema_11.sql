-- Version 11: dashboard sessions (the web module). Only the SHA-256 of the session id is kept;
-- times are microseconds since the epoch.
CREATE TABLE IF NOT EXISTS web_session (
    id_sha256    TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS web_session_by_last_seen ON web_session(last_seen_at);
