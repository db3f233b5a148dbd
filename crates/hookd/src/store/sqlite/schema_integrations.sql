-- Integrations (Svix's): named credentials of one application. Only the SHA-256 of the current
-- key is kept (hex); rotating replaces it. feature_flags is a JSON array of strings. An
-- integration goes with its application.
CREATE TABLE integration (
    id            TEXT PRIMARY KEY,
    app_id        TEXT NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    feature_flags TEXT NOT NULL,
    key_sha256    TEXT NOT NULL UNIQUE,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX integration_by_app ON integration (app_id, id);
