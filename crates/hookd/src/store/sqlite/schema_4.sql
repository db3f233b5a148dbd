-- Version 4: endpoint health and throttle state in the database, so every node sees the same:
-- consecutive failures and the pause they (or a Retry-After) impose, and token buckets for the
-- endpoint's and the application's throttleRate.
ALTER TABLE endpoint ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE endpoint ADD COLUMN paused_until INTEGER;
ALTER TABLE endpoint ADD COLUMN throttle_tokens REAL;
ALTER TABLE endpoint ADD COLUMN throttle_updated INTEGER;
ALTER TABLE application ADD COLUMN throttle_tokens REAL;
ALTER TABLE application ADD COLUMN throttle_updated INTEGER;
