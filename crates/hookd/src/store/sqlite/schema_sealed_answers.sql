-- Idempotency answers that hold a credential (a rotated signing secret, an issued token, an
-- integration key) are stored sealed like every other secret column, under the idempotency
-- key as associated data; `holds_secrets` marks them, so reads open them, and the census and
-- `hookd rotate-key` find them (also those stored plain before a key was set).
ALTER TABLE idempotency ADD COLUMN holds_secrets INTEGER NOT NULL DEFAULT 0;
