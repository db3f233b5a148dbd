//! Erasure for compliance: expunging the payloads of several messages by id or uid (Svix
//! `message.bulk_expunge_content`), every payload of an application as a background task
//! (`message.expunge_all_contents`, task `application.purge_content`), and one attempt's
//! response body (`message_attempt.expunge_content`). Each removes exactly what
//! `delivery_logs::expunge_content` removes of a message (its payload, and the content in the
//! idempotent answer that created it); records are kept.

use super::replay::start_background_task;
use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::{AttemptId, BackgroundTaskKind, ReplaySelection, Timestamp};
use crate::store::{BackgroundTask, ReplayFilter};

/// The most message ids or uids one bulk expunge takes.
pub const BULK_EXPUNGE_MAX_IDS: usize = 500;

/// Names expunged in one store transaction, so a long list does not hold the writer.
const EXPUNGE_CHUNK: usize = 50;

/// Whether a name of a bulk expunge named a message of the application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BulkExpungeStatus {
    Expunged,
    NotFound,
}

/// Removes the payloads of the messages `names` (ids or uids, each once, at most
/// `BULK_EXPUNGE_MAX_IDS`) names; for each name, whether there was such a message.
pub async fn bulk_expunge(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    names: Vec<String>,
) -> OpResult<Vec<(String, BulkExpungeStatus)>> {
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    if names.is_empty() || names.len() > BULK_EXPUNGE_MAX_IDS {
        return Err(OpError::invalid_body(
            &["ids"],
            format!("ids must hold 1 to {BULK_EXPUNGE_MAX_IDS} message ids or uids"),
        ));
    }
    let mut results = Vec::with_capacity(names.len());
    for chunk in names.chunks(EXPUNGE_CHUNK) {
        let found = ops
            .store
            .expunge_message_contents(&app.id, chunk.to_vec())
            .await?;
        results.extend(chunk.iter().cloned().zip(found).map(|(name, found)| {
            let status = if found {
                BulkExpungeStatus::Expunged
            } else {
                BulkExpungeStatus::NotFound
            };
            (name, status)
        }));
    }
    let expunged = results
        .iter()
        .filter(|(_, status)| *status == BulkExpungeStatus::Expunged)
        .count();
    tracing::info!(app_id = %app.id, expunged, asked = results.len(), "message contents expunged");
    Ok(results)
}

/// Starts the task that removes the payload of every message the application has now (a
/// message accepted after the task passed its place keeps its payload).
pub async fn expunge_all(ops: &Ops, principal: &Principal, app: &str) -> OpResult<BackgroundTask> {
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    let filter = ReplayFilter {
        app_id: app.id,
        endpoint_id: None,
        event_types: None,
        // Not read by a purge; stored because every task row has one.
        selection: ReplaySelection::AnyFinished,
        since: Timestamp::UNIX_EPOCH,
        until: None,
    };
    start_background_task(ops, BackgroundTaskKind::PurgeContent, filter, None).await
}

/// Empties the stored response body of one attempt of the message.
pub async fn expunge_attempt(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
    attempt: &str,
) -> OpResult<()> {
    let (app, message) = scope::message(ops, principal, AppRef::Named(app), message).await?;
    let attempt_id = AttemptId::from_trusted(attempt.to_owned());
    if !ops
        .store
        .expunge_attempt_content(&app.id, &message.id, &attempt_id)
        .await?
    {
        return Err(OpError::NotFound("attempt not found"));
    }
    tracing::info!(app_id = %app.id, msg_id = %message.id, attempt_id = %attempt_id, "attempt content expunged");
    Ok(())
}
