-- Version 3: when an endpoint started failing without a success since (NULL while healthy),
-- for disabling endpoints that have failed continuously for too long.
ALTER TABLE endpoint ADD COLUMN failing_since INTEGER;
