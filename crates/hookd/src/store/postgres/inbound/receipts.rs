//! The receipt of a request at an ingest URL (PostgreSQL): its record, its dedupe key and the message it
//! forwards, in one transaction; and the listing of a source's received requests.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use crate::domain::inbound::{AppForward, InboundRequestRecord};
use crate::domain::{AppId, InboundRequestId, MessageId, SourceId, Timestamp};
use crate::store::inbound::{
    AppMessage, ReceiptDecision, ReceiptOutcome, ReceivedRequest, app_forward_from,
    verdict_columns, verdict_from,
};
use crate::store::parsed_filters::ParsedFilters;
use crate::store::postgres::deliveries::DueMarks;
use crate::store::postgres::messages::fanout_targets;
use crate::store::postgres::messages::insert_message;
use crate::store::postgres::rows::{from_json, from_micros, to_json, to_micros};
use crate::store::postgres::{backend, get, missing_parent};
use crate::store::stored::CorruptValue;
use crate::store::{MessageInsert, NewMessage, StoreError};

#[derive(Debug, thiserror::Error)]
#[error("unknown verdict {0}")]
struct UnknownVerdict(i16);

/// Records the request and, when it is to be forwarded and its key is new within the window,
/// its key and message, inside the caller's transaction (the write batcher's). Returns the
/// outcome and the deliveries added; the due marks of the forwarded messages join `due_marks`,
/// which the caller applies once for its whole transaction (the lock order: endpoint_queue
/// rows by endpoint id, in one pass).
pub async fn receive(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    request: ReceivedRequest,
    due_marks: &mut DueMarks,
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
                Some(key) => {
                    claim_dedupe_key(
                        c,
                        &request.source_id,
                        key,
                        &message.id,
                        request.received_at,
                        dedupe_since,
                    )
                    .await?
                }
            };
            match first {
                Some(msg_id) => (dedupe_key, ReceiptOutcome::Duplicate { msg_id }, 0),
                None => {
                    let msg_id = message.id.clone();
                    let mut deliveries = forward(c, filters, *message, due_marks).await?;
                    let app_forward = match app_message {
                        None => None,
                        Some(AppMessage::Skip(reason)) => Some(reason),
                        Some(AppMessage::Forward(app_message))
                            if !application_exists(c, &app_message.app_id).await? =>
                        {
                            Some(AppForward::ApplicationMissing)
                        }
                        Some(AppMessage::Forward(app_message)) => {
                            let app_msg_id = app_message.id.clone();
                            deliveries += forward(c, filters, *app_message, due_marks).await?;
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
    let statement = c
        .prepare_cached(
            "INSERT INTO ingest_request (id, source_id, received_at, verdict, reason, dedupe_key,
             msg_id, headers, body, app_msg_id, app_forward_error)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &request.id.as_str(),
            &request.source_id.as_str(),
            &to_micros(request.received_at),
            &code,
            &reason,
            &dedupe_key,
            &msg_id,
            &to_json(&request.headers)?,
            &request.body,
            &app_msg_id,
            &app_forward_error,
        ],
    )
    .await
    .map_err(missing_parent("source not found"))?;
    Ok((outcome, deliveries))
}

/// Inserts one forwarded message with a delivery per endpoint of its application.
async fn forward(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    message: NewMessage,
    due_marks: &mut DueMarks,
) -> Result<usize, StoreError> {
    let endpoints = fanout_targets(c, filters, &message.app_id).await?;
    Ok(
        match insert_message(c, message, &endpoints, due_marks).await? {
            MessageInsert::Created { deliveries, .. } => deliveries,
            MessageInsert::Duplicate(_) => 0,
        },
    )
}

/// Whether the application a source forwards to still exists; its row is share-locked so
/// that a concurrent delete waits for this commit (the message insert would take the same
/// lock through its foreign key).
async fn application_exists(c: &impl GenericClient, app_id: &AppId) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached("SELECT 1 FROM application WHERE id = $1 FOR KEY SHARE")
        .await
        .map_err(backend)?;
    Ok(c.query_opt(&statement, &[&app_id.as_str()])
        .await
        .map_err(backend)?
        .is_some())
}

/// Remembers `key` for `msg_id` unless it was seen at or after `since`; returns the earlier
/// message when it was (a duplicate). An entry older than the window is taken over.
async fn claim_dedupe_key(
    c: &impl GenericClient,
    source_id: &SourceId,
    key: &str,
    msg_id: &MessageId,
    now: Timestamp,
    since: Timestamp,
) -> Result<Option<MessageId>, StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO ingest_dedupe (source_id, dedupe_key, msg_id, seen_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (source_id, dedupe_key) DO UPDATE
             SET msg_id = excluded.msg_id, seen_at = excluded.seen_at
             WHERE ingest_dedupe.seen_at < $5
             RETURNING msg_id",
        )
        .await
        .map_err(backend)?;
    let claimed = c
        .query_opt(
            &statement,
            &[
                &source_id.as_str(),
                &key,
                &msg_id.as_str(),
                &to_micros(now),
                &to_micros(since),
            ],
        )
        .await
        .map_err(missing_parent("source not found"))?;
    if claimed.is_some() {
        return Ok(None);
    }
    let statement = c
        .prepare_cached("SELECT msg_id FROM ingest_dedupe WHERE source_id = $1 AND dedupe_key = $2")
        .await
        .map_err(backend)?;
    let row = c
        .query_one(&statement, &[&source_id.as_str(), &key])
        .await
        .map_err(backend)?;
    Ok(Some(MessageId::from_trusted(get::<String>(&row, 0)?)))
}

/// Deletes request records received before `requests_before` and dedupe keys seen before
/// `keys_before`, at most `limit` of each.
pub(super) async fn purge_before(
    c: &impl GenericClient,
    requests_before: Timestamp,
    keys_before: Timestamp,
    limit: usize,
) -> Result<usize, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let statement = c
        .prepare_cached(
            "DELETE FROM ingest_request WHERE id IN
             (SELECT id FROM ingest_request WHERE received_at < $1 LIMIT $2)",
        )
        .await
        .map_err(backend)?;
    let requests = c
        .execute(&statement, &[&to_micros(requests_before), &limit])
        .await
        .map_err(backend)?;
    let statement = c
        .prepare_cached(
            "DELETE FROM ingest_dedupe WHERE (source_id, dedupe_key) IN
             (SELECT source_id, dedupe_key FROM ingest_dedupe WHERE seen_at < $1 LIMIT $2)",
        )
        .await
        .map_err(backend)?;
    let keys = c
        .execute(&statement, &[&to_micros(keys_before), &limit])
        .await
        .map_err(backend)?;
    Ok(usize::try_from(requests + keys).unwrap_or(usize::MAX))
}

pub(super) const REQUEST_COLUMNS: &str = "id, source_id, received_at, verdict, reason, msg_id,
     dedupe_key, headers, body, app_msg_id, app_forward_error";

pub(super) fn request_from_row(row: &Row) -> Result<InboundRequestRecord, StoreError> {
    let code: i16 = get(row, 3)?;
    let reason: Option<String> = get(row, 4)?;
    Ok(InboundRequestRecord {
        id: InboundRequestId::from_trusted(get::<String>(row, 0)?),
        source_id: SourceId::from_trusted(get::<String>(row, 1)?),
        received_at: from_micros(get(row, 2)?),
        verdict: verdict_from(code, reason.as_deref())
            .ok_or_else(|| CorruptValue::new("request verdict", UnknownVerdict(code)))?,
        msg_id: get::<Option<String>>(row, 5)?.map(MessageId::from_trusted),
        dedupe_key: get(row, 6)?,
        app_forward: app_forward_from(get(row, 9)?, get::<Option<String>>(row, 10)?.as_deref()),
        headers: from_json(&get::<String>(row, 7)?)?,
        body: get(row, 8)?,
    })
}
