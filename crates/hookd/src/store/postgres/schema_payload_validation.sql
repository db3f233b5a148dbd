-- Version 15: payload validation. An event type may enforce its newest schema on the messages
-- sent under it (`enforce_schema`), and `revision` changes with every write of the type, so
-- that a compiled schema cached under it is replaced on the next message on every node.
ALTER TABLE event_type
    ADD COLUMN enforce_schema boolean NOT NULL DEFAULT false,
    ADD COLUMN revision bigint NOT NULL DEFAULT 0;
