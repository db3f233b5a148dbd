-- Payload validation: an event type may enforce its newest schema on the messages sent under
-- it (`enforce_schema`), and `revision` changes with every write of the type, so that a
-- compiled schema cached under it is replaced on the next message on every node.
ALTER TABLE event_type ADD COLUMN enforce_schema INTEGER NOT NULL DEFAULT 0;
ALTER TABLE event_type ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
