-- Version 2: since when an endpoint has been failing without a success (NULL while healthy), for
-- disabling endpoints that have failed continuously for too long.
ALTER TABLE endpoint ADD COLUMN failing_since bigint;
