//! The receipt of a request at an ingest URL (SQLite): its record, its dedupe key and the message it
//! forwards, in one transaction; and the listing of a source's received requests.

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::domain::inbound::{AppForward, InboundRequestRecord};
use crate::domain::{AppId, InboundRequestId, MessageId, SourceId, Timestamp};
use crate::store::inbound::{
    AppMessage, ReceiptDecision, ReceiptOutcome, ReceivedRequest, app_forward_from,
    verdict_columns, verdict_from,
};
use crate::store::paging::Children;
use crate::store::parsed_filters::ParsedFilters;
use crate::store::sqlite::backend;
use crate::store::sqlite::messages::insert_message;
use crate::store::sqlite::missing_parent;
use crate::store::sqlite::rows::{from_json, from_micros, page_of_children, to_json, to_micros};
use crate::store::stored::CorruptValue;
use crate::store::{MessageInsert, Page, PageRequest, StoreError};

#[derive(Debug, thiserror::Error)]
#[error("unknown verdict {0}")]
struct UnknownVerdict(i16);

/// Records the request and, when it is to be forwarded and its key is new within the window,
/// its key and message. Returns the outcome and the deliveries added.
pub(super) fn receive(
    c: &Connection,
    filters: &ParsedFilters,
    request: ReceivedRequest,
) -> Result<(ReceiptOutcome, usize), StoreError> {
    let (dedupe_key, outcome, deliveries) = match request.decision {
        ReceiptDecision::Reject(reason) => (None, ReceiptOutcome::Rejected(reason), 0),
        ReceiptDecision::Forward {
            message,
            app_message,
            dedupe_key,
            dedupe_since,
        } => {
            let first = match &dedupe_key {
                None => None,
                Some(key) => claim_dedupe_key(
                    c,
                    &request.source_id,
                    key,
                    &message.id,
                    request.received_at,
                    dedupe_since,
                )?,
            };
            match first {
                Some(msg_id) => (dedupe_key, ReceiptOutcome::Duplicate { msg_id }, 0),
                None => {
                    let msg_id = message.id.clone();
                    let mut deliveries = inserted_deliveries(insert_message(c, filters, *message)?);
                    let app_forward = match app_message {
                        None => None,
                        Some(AppMessage::Skip(reason)) => Some(reason),
                        Some(AppMessage::Forward(app_message))
                            if !application_exists(c, &app_message.app_id)? =>
                        {
                            Some(AppForward::ApplicationMissing)
                        }
                        Some(AppMessage::Forward(app_message)) => {
                            let app_msg_id = app_message.id.clone();
                            deliveries +=
                                inserted_deliveries(insert_message(c, filters, *app_message)?);
                            Some(AppForward::Forwarded(app_msg_id))
                        }
                    };
                    (
                        dedupe_key,
                        ReceiptOutcome::Forwarded {
                            msg_id,
                            deliveries,
                            app_forward,
                        },
                        deliveries,
                    )
                }
            }
        }
    };
    let msg_id = outcome.msg_id().map(|msg_id| msg_id.as_str().to_owned());
    let (code, reason) = verdict_columns(&outcome.verdict());
    let (app_msg_id, app_forward_error) = outcome.app_forward_columns();
    c.prepare_cached(
        "INSERT INTO ingest_request (id, source_id, received_at, verdict, reason, dedupe_key,
         msg_id, headers, body, app_msg_id, app_forward_error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )
    .map_err(backend)?
    .execute(params![
        request.id.as_str(),
        request.source_id.as_str(),
        to_micros(request.received_at),
        code,
        reason,
        dedupe_key,
        msg_id,
        to_json(&request.headers)?,
        request.body,
        app_msg_id,
        app_forward_error,
    ])
    .map_err(missing_parent("source not found"))?;
    Ok((outcome, deliveries))
}

fn inserted_deliveries(insert: MessageInsert) -> usize {
    match insert {
        MessageInsert::Created { deliveries, .. } => deliveries,
        MessageInsert::Duplicate(_) => 0,
    }
}

/// Whether the application a source forwards to still exists (it may have been deleted since
/// the source named it); the single writer keeps it so until the commit.
fn application_exists(c: &Connection, app_id: &AppId) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT 1 FROM application WHERE id = ?1")
        .map_err(backend)?
        .exists([app_id.as_str()])
        .map_err(backend)
}

/// Remembers `key` for `msg_id` unless it was seen at or after `since`; returns the earlier
/// message when it was (a duplicate). An entry older than the window is taken over.
fn claim_dedupe_key(
    c: &Connection,
    source_id: &SourceId,
    key: &str,
    msg_id: &MessageId,
    now: Timestamp,
    since: Timestamp,
) -> Result<Option<MessageId>, StoreError> {
    let claimed = c
        .prepare_cached(
            "INSERT INTO ingest_dedupe (source_id, dedupe_key, msg_id, seen_at)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (source_id, dedupe_key) DO UPDATE
             SET msg_id = excluded.msg_id, seen_at = excluded.seen_at
             WHERE ingest_dedupe.seen_at < ?5
             RETURNING msg_id",
        )
        .map_err(backend)?
        .query_row(
            params![
                source_id.as_str(),
                key,
                msg_id.as_str(),
                to_micros(now),
                to_micros(since)
            ],
            |row| row.get::<_, String>(0),
        )
        .optional()
        .map_err(missing_parent("source not found"))?;
    if claimed.is_some() {
        return Ok(None);
    }
    let earlier: String = c
        .prepare_cached("SELECT msg_id FROM ingest_dedupe WHERE source_id = ?1 AND dedupe_key = ?2")
        .map_err(backend)?
        .query_row([source_id.as_str(), key], |row| row.get(0))
        .map_err(backend)?;
    Ok(Some(MessageId::from_trusted(earlier)))
}

/// Deletes request records received before `requests_before` and dedupe keys seen before
/// `keys_before`, at most `limit` of each.
pub(super) fn purge_before(
    c: &Connection,
    requests_before: Timestamp,
    keys_before: Timestamp,
    limit: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let requests = c
        .prepare_cached(
            "DELETE FROM ingest_request WHERE id IN
             (SELECT id FROM ingest_request WHERE received_at < ?1 LIMIT ?2)",
        )
        .map_err(backend)?
        .execute(params![to_micros(requests_before), limit])
        .map_err(backend)?;
    let keys = c
        .prepare_cached(
            "DELETE FROM ingest_dedupe WHERE rowid IN
             (SELECT rowid FROM ingest_dedupe WHERE seen_at < ?1 LIMIT ?2)",
        )
        .map_err(backend)?
        .execute(params![to_micros(keys_before), limit])
        .map_err(backend)?;
    Ok(requests + keys)
}

const REQUEST_COLUMNS: &str = "id, source_id, received_at, verdict, reason, msg_id, dedupe_key,
     headers, body, app_msg_id, app_forward_error";

fn request_from_row(row: &Row<'_>) -> rusqlite::Result<Result<InboundRequestRecord, StoreError>> {
    let code: i16 = row.get(3)?;
    let reason: Option<String> = row.get(4)?;
    let headers: String = row.get(7)?;
    Ok((|| {
        Ok(InboundRequestRecord {
            id: InboundRequestId::from_trusted(row.get::<_, String>(0).map_err(backend)?),
            source_id: SourceId::from_trusted(row.get::<_, String>(1).map_err(backend)?),
            received_at: from_micros(row.get(2).map_err(backend)?),
            verdict: verdict_from(code, reason.as_deref())
                .ok_or_else(|| CorruptValue::new("request verdict", UnknownVerdict(code)))?,
            msg_id: row
                .get::<_, Option<String>>(5)
                .map_err(backend)?
                .map(MessageId::from_trusted),
            dedupe_key: row.get(6).map_err(backend)?,
            app_forward: app_forward_from(
                row.get(9).map_err(backend)?,
                row.get::<_, Option<String>>(10)
                    .map_err(backend)?
                    .as_deref(),
            ),
            headers: from_json(&headers)?,
            body: row.get(8).map_err(backend)?,
        })
    })())
}

pub(super) fn list_requests(
    c: &Connection,
    source_id: &SourceId,
    page: &PageRequest,
) -> Result<Page<InboundRequestRecord>, StoreError> {
    let children = Children {
        columns: REQUEST_COLUMNS,
        table: "ingest_request",
        parent_column: "source_id",
    };
    let read = |row: &Row<'_>| request_from_row(row).map_err(backend)?;
    let key = |request: &InboundRequestRecord| request.id.to_string();
    page_of_children(c, children, source_id.as_str(), page, read, key)
}

pub(super) fn find_request(
    c: &Connection,
    source_id: &SourceId,
    id: &InboundRequestId,
) -> Result<Option<InboundRequestRecord>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {REQUEST_COLUMNS} FROM ingest_request WHERE source_id = ?1 AND id = ?2"
    ))
    .map_err(backend)?
    .query_row([source_id.as_str(), id.as_str()], request_from_row)
    .optional()
    .map_err(backend)?
    .transpose()
}
