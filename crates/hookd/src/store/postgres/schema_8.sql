-- Version 8: the inbound gateway's forwarding options. A message forwarded from an inbound
-- request may carry some of that request's original headers (a source's forwardHeaders; a JSON
-- list of [name, value] pairs, NULL for none). A request forwarded to a source's forwardToApp
-- application records that message (app_msg_id), or why it could not be (app_forward_error).
ALTER TABLE message ADD COLUMN original_headers text;
ALTER TABLE ingest_request ADD COLUMN app_msg_id text;
ALTER TABLE ingest_request ADD COLUMN app_forward_error text;
