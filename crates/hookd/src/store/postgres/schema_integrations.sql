-- Integrations (Svix's): named credentials of one application. Only the SHA-256 of the current
-- key is kept (hex); rotating replaces it. feature_flags is a JSON array of strings. An
-- integration goes with its application.
CREATE TABLE integration (
    id            text COLLATE "C" PRIMARY KEY,
    app_id        text NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    name          text NOT NULL,
    feature_flags text NOT NULL,
    key_sha256    text NOT NULL UNIQUE,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);
CREATE INDEX integration_by_app ON integration (app_id, id);
