-- Application-scoped API tokens (issue 12). Only the SHA-256 of a token is kept (hex). A token
-- goes with its application. session_id tags portal sessions for expire-all.
CREATE TABLE app_token (
    id           text COLLATE "C" PRIMARY KEY,
    token_sha256 text NOT NULL UNIQUE,
    app_id       text NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    name         text,
    read_only    boolean NOT NULL,
    session_id   text,
    created_at   bigint NOT NULL,
    expires_at   bigint,
    revoked      boolean NOT NULL DEFAULT false
);
CREATE INDEX app_token_by_app ON app_token (app_id, id);
