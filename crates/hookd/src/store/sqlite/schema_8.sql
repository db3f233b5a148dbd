-- Version 8: the inbound gateway. A source is one provider's webhooks arriving at one ingest URL
-- (its token; the previous token stays valid until previous_token_until after a rotation). Its
-- internal application is app_<source id>, created and deleted with it. Every request received
-- is recorded with its verdict (0 accepted, 1 duplicate, 2 rejected with a reason code); the
-- provider's delivery id of each forwarded request is remembered per source in ingest_dedupe,
-- whose primary key makes two concurrent receipts of one id forward it once.
CREATE TABLE ingest_source (
    id TEXT PRIMARY KEY,
    uid TEXT UNIQUE,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    config TEXT NOT NULL,
    metadata TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    previous_token TEXT UNIQUE,
    previous_token_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE ingest_request (
    id TEXT PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES ingest_source(id) ON DELETE CASCADE,
    received_at INTEGER NOT NULL,
    verdict INTEGER NOT NULL,
    reason TEXT,
    dedupe_key TEXT,
    msg_id TEXT,
    headers TEXT NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX ingest_request_by_source ON ingest_request(source_id, id);
CREATE TABLE ingest_dedupe (
    source_id TEXT NOT NULL REFERENCES ingest_source(id) ON DELETE CASCADE,
    dedupe_key TEXT NOT NULL,
    msg_id TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (source_id, dedupe_key)
);
-- A forwarded body that is not JSON (a form post) keeps its content type; NULL is JSON.
ALTER TABLE message ADD COLUMN content_type TEXT;
