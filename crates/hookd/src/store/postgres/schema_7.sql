-- Version 7: the inbound gateway. A source is one provider's webhooks arriving at one ingest URL
-- (its token; the previous token stays valid until previous_token_until after a rotation). Its
-- internal application is app_<source id>, created and deleted with it. Every request received
-- is recorded with its verdict (0 accepted, 1 duplicate, 2 rejected with a reason code); the
-- provider's delivery id of each forwarded request is remembered per source in ingest_dedupe,
-- whose primary key makes two concurrent receipts of one id forward it once.
CREATE TABLE ingest_source (
    id                   text COLLATE "C" PRIMARY KEY,
    uid                  text UNIQUE,
    name                 text NOT NULL,
    type                 text NOT NULL,
    config               text NOT NULL,
    metadata             text NOT NULL,
    token                text NOT NULL UNIQUE,
    previous_token       text UNIQUE,
    previous_token_until bigint,
    created_at           bigint NOT NULL,
    updated_at           bigint NOT NULL
);
CREATE TABLE ingest_request (
    id          text COLLATE "C" PRIMARY KEY,
    source_id   text NOT NULL REFERENCES ingest_source(id) ON DELETE CASCADE,
    received_at bigint NOT NULL,
    verdict     smallint NOT NULL,
    reason      text,
    dedupe_key  text,
    msg_id      text,
    headers     text NOT NULL,
    body        bytea NOT NULL
);
CREATE INDEX ingest_request_by_source ON ingest_request(source_id, id);
CREATE TABLE ingest_dedupe (
    source_id  text NOT NULL REFERENCES ingest_source(id) ON DELETE CASCADE,
    dedupe_key text NOT NULL,
    msg_id     text NOT NULL,
    seen_at    bigint NOT NULL,
    PRIMARY KEY (source_id, dedupe_key)
);
-- A forwarded body that is not JSON (a form post) keeps its content type; NULL is JSON.
ALTER TABLE message ADD COLUMN content_type text;
