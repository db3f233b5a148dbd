-- Version 9: a message's place in commit order, for event streams (store/streams.rs): the id
-- of the transaction that wrote it. A stream reads only rows below the oldest transaction
-- still in progress, so none can still commit before a row it has sent. Rows from before
-- all read 0 (a constant default: no rewrite) and keep their order by id; new rows take the
-- writing transaction's id.
ALTER TABLE message ADD COLUMN writer_xid bigint NOT NULL DEFAULT 0;
ALTER TABLE message ALTER COLUMN writer_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX message_stream ON message(app_id, writer_xid, id);
