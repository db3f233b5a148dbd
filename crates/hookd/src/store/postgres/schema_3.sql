-- Version 3: endpoint health and throttle state shared by every node: consecutive failures and
-- the pause they (or a Retry-After) impose, and token buckets for the endpoint's and the
-- application's throttleRate.
ALTER TABLE endpoint ADD COLUMN consecutive_failures integer NOT NULL DEFAULT 0;
ALTER TABLE endpoint ADD COLUMN paused_until bigint;
ALTER TABLE endpoint ADD COLUMN throttle_tokens double precision;
ALTER TABLE endpoint ADD COLUMN throttle_updated bigint;
ALTER TABLE application ADD COLUMN throttle_tokens double precision;
ALTER TABLE application ADD COLUMN throttle_updated bigint;
