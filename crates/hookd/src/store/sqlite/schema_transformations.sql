-- Endpoint transformations: the JavaScript an endpoint runs on every delivery before it is
-- signed (engine::transformation). NULL code is no transformation; a claim reads the code only
-- while it is enabled. `transformation_updated_at` is microseconds since the epoch.
ALTER TABLE endpoint ADD COLUMN transformation_code TEXT;
ALTER TABLE endpoint ADD COLUMN transformation_enabled INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoint ADD COLUMN transformation_updated_at INTEGER;
