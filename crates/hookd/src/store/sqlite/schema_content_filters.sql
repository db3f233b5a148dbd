-- Content filters (issue 14): an endpoint's filter over message payloads, as the JSON text it
-- was written in (`domain::ContentFilter`); NULL means every payload.
ALTER TABLE endpoint ADD COLUMN content_filter TEXT;
