-- What an application token is granted beyond its application (Svix's `featureFlags` and
-- `capabilities`, domain::grants): the feature flags it sees, space-separated ('' none), and
-- its capabilities, space-separated, NULL for the whole application (every token made before).
ALTER TABLE app_token ADD COLUMN feature_flags TEXT NOT NULL DEFAULT '';
ALTER TABLE app_token ADD COLUMN capabilities TEXT;
