-- Endpoint transformations: the JavaScript an endpoint runs on every delivery before it is
-- signed (engine::transformation). NULL code is no transformation; a claim reads the code only
-- while it is enabled. `transformation_updated_at` is microseconds since the epoch.
ALTER TABLE endpoint ADD COLUMN transformation_code TEXT;
ALTER TABLE endpoint ADD COLUMN transformation_enabled BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE endpoint ADD COLUMN transformation_updated_at BIGINT;
