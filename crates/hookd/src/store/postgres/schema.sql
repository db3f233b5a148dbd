-- hookd's PostgreSQL schema, version 1. Times are microseconds since the Unix epoch (UTC) in
-- bigint, so every value reads back exactly as it was written. JSON columns hold arrays or
-- objects written by hookd itself; channels and tags are text arrays so listings can filter on
-- them with `= ANY(...)`. Keys that listings page by use the "C" collation: ids are base62 and
-- sort by creation time only in byte order.

CREATE TABLE application (
    id            text COLLATE "C" PRIMARY KEY,
    uid           text UNIQUE,
    name          text NOT NULL,
    throttle_rate bigint,
    metadata      text NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL
);

CREATE TABLE endpoint (
    id            text COLLATE "C" PRIMARY KEY,
    app_id        text NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    uid           text,
    url           text NOT NULL,
    description   text NOT NULL,
    version       bigint NOT NULL,
    disabled      boolean NOT NULL,
    event_types   text,
    channels      text,
    throttle_rate bigint,
    metadata      text NOT NULL,
    headers       text NOT NULL,
    created_at    bigint NOT NULL,
    updated_at    bigint NOT NULL,
    max_in_flight bigint,
    ordered       boolean NOT NULL DEFAULT false,
    retry_schedule text,
    auth          text,
    UNIQUE (app_id, uid)
);
CREATE INDEX endpoint_by_app ON endpoint(app_id, id);

CREATE TABLE endpoint_secret (
    endpoint_id text NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    key         text NOT NULL,
    -- NULL for the current secret; a rotated-out secret signs until this time.
    expires_at  bigint,
    created_at  bigint NOT NULL
);
CREATE INDEX endpoint_secret_by_endpoint ON endpoint_secret(endpoint_id);

CREATE TABLE event_type (
    name         text COLLATE "C" PRIMARY KEY,
    description  text NOT NULL,
    deprecated   boolean NOT NULL,
    archived     boolean NOT NULL,
    schemas      text,
    feature_flag text,
    group_name   text,
    created_at   bigint NOT NULL,
    updated_at   bigint NOT NULL
);

CREATE TABLE message (
    id         text COLLATE "C" PRIMARY KEY,
    app_id     text NOT NULL REFERENCES application(id) ON DELETE CASCADE,
    event_type text NOT NULL,
    event_id   text,
    payload    text,
    channels   text[] NOT NULL,
    tags       text[] NOT NULL,
    deliver_at bigint,
    created_at bigint NOT NULL
);
CREATE INDEX message_by_app ON message(app_id, id);
CREATE UNIQUE INDEX message_event_id ON message(app_id, event_id) WHERE event_id IS NOT NULL;

-- One row per message and endpoint (plus one per manual resend). status: 0 success, 1 pending,
-- 2 failed, 9 parked. A pending delivery is due at next_attempt_at; a claim moves
-- next_attempt_at to the end of the lease and stamps lease_token (and leased_by, the claiming
-- node, for operators), so a dead node's delivery falls due again by itself.
CREATE TABLE delivery (
    id              text COLLATE "C" PRIMARY KEY,
    app_id          text NOT NULL,
    msg_id          text NOT NULL REFERENCES message(id) ON DELETE CASCADE,
    endpoint_id     text NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    status          smallint NOT NULL,
    trigger_type    smallint NOT NULL,
    attempts_made   integer NOT NULL,
    next_attempt_at bigint NOT NULL,
    lease_token     bigint,
    leased_by       text
);
CREATE INDEX delivery_endpoint_due ON delivery(endpoint_id, next_attempt_at) WHERE status = 1;
CREATE INDEX delivery_endpoint_order ON delivery(endpoint_id, id) WHERE status = 1;
CREATE INDEX delivery_by_msg ON delivery(msg_id);
CREATE INDEX delivery_by_endpoint ON delivery(endpoint_id);

-- Per-endpoint scheduling: each endpoint with pending deliveries has one row whose next_due is
-- never later than its earliest pending delivery (writes that make a delivery due earlier lower
-- it; claims recompute it). A claim locks the rows of the endpoints it serves (FOR UPDATE SKIP
-- LOCKED), so one node at a time claims for an endpoint: its concurrency limit and FIFO order
-- hold across nodes, and nodes spread over endpoints instead of queueing behind each other.
CREATE TABLE endpoint_queue (
    endpoint_id text COLLATE "C" PRIMARY KEY REFERENCES endpoint(id) ON DELETE CASCADE,
    app_id      text NOT NULL,
    next_due    bigint NOT NULL
);
CREATE INDEX endpoint_queue_due ON endpoint_queue(next_due);

CREATE TABLE attempt (
    id                   text COLLATE "C" PRIMARY KEY,
    app_id               text NOT NULL,
    msg_id               text NOT NULL REFERENCES message(id) ON DELETE CASCADE,
    endpoint_id          text NOT NULL REFERENCES endpoint(id) ON DELETE CASCADE,
    url                  text NOT NULL,
    status               smallint NOT NULL,
    response_status_code integer NOT NULL,
    response             text NOT NULL,
    response_duration_ms bigint NOT NULL,
    failure_code         text,
    trigger_type         smallint NOT NULL,
    created_at           bigint NOT NULL
);
CREATE INDEX attempt_by_app ON attempt(app_id, id);
CREATE INDEX attempt_by_msg ON attempt(msg_id, id);
CREATE INDEX attempt_by_endpoint ON attempt(endpoint_id, id);

CREATE TABLE idempotency (
    key            text PRIMARY KEY,
    request_digest text NOT NULL,
    status         integer NOT NULL,
    body           bytea NOT NULL,
    created_at     bigint NOT NULL
);

CREATE TABLE setting (
    name  text COLLATE "C" PRIMARY KEY,
    value text NOT NULL
);
