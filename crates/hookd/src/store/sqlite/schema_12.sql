-- Dashboard sessions (the web module). Only the SHA-256 of the session id is kept; times are
-- microseconds since the epoch. (Written as version 12 for the merge of issue 12; applied in
-- the order of `MIGRATIONS`.)
CREATE TABLE IF NOT EXISTS web_session (
    id_sha256    TEXT PRIMARY KEY,
    principal    TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS web_session_by_last_seen ON web_session(last_seen_at);
