-- Version 10: a message's place in its application's commit order, for event streams
-- (store/streams.rs). The single writer gives each new message one more than its
-- application's highest; rows from before all read 0 and keep their order by id, which is
-- also the order they committed in as far as any stream could have seen.
ALTER TABLE message ADD COLUMN stream_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS message_stream ON message(app_id, stream_seq, id);
