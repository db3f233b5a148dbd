-- Application-scoped API tokens (issue 12). Only the SHA-256 of a token is kept (hex). A token
-- goes with its application. session_id tags portal sessions for expire-all.
CREATE TABLE app_token (
    id           TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    app_id       TEXT NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    name         TEXT,
    read_only    INTEGER NOT NULL,
    session_id   TEXT,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX app_token_by_app ON app_token (app_id, id);
