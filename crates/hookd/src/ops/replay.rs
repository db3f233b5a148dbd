//! Replays: one message to all its endpoints, an endpoint's recovery and missing messages, and
//! the bulk replay by filter with a dry run.
//!
//! A replay is always a new manual delivery: earlier attempts stay as they were. Replaying one
//! message is one short transaction; the others may cover millions of messages, so they are
//! stored as background tasks (run by `crate::background` in batches) and return the task.

use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, PAYLOAD_MISSING, Principal};
use crate::domain::{
    BackgroundTaskId, BackgroundTaskKind, EndpointId, EventTypeName, ReplaySelection, Timestamp,
};
use crate::store::{BackgroundTask, NewBackgroundTask, ReplayFilter};

/// Messages created in `[since, until)`; `until` is later than `since` when given.
#[derive(Debug, Clone, Copy)]
pub struct ReplayWindow {
    pub since: Timestamp,
    pub until: Option<Timestamp>,
}

/// What a bulk replay selects in one application.
#[derive(Debug, Clone)]
pub struct BulkReplay {
    /// One endpoint (id or uid), or all.
    pub endpoint: Option<String>,
    pub event_types: Option<Vec<EventTypeName>>,
    pub selection: ReplaySelection,
    pub window: ReplayWindow,
}

/// What a bulk replay would do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DryRun {
    /// Deliveries a real run would queue now.
    pub count: u64,
    /// Pairs that match but are still being retried (a replay takes only finished ones).
    pub still_retrying: u64,
}

/// One manual delivery, due now, to every endpoint the message was originally fanned out to;
/// returns how many were queued. Runs in the span `ops.replay_message`.
#[tracing::instrument(name = "ops.replay_message", skip_all,
    fields(app_id = tracing::field::Empty, msg_id = tracing::field::Empty))]
pub async fn replay_message(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
) -> OpResult<usize> {
    let (app, message) = scope::message(ops, principal, AppRef::Named(app), message).await?;
    if message.payload.is_none() {
        return Err(OpError::PayloadMissing(PAYLOAD_MISSING));
    }
    let span = tracing::Span::current();
    span.record("app_id", tracing::field::display(&app.id));
    span.record("msg_id", tracing::field::display(&message.id));
    let queued = ops
        .store
        .replay_message(&app.id, &message.id, ops.clock.now())
        .await?;
    tracing::info!(app_id = %app.id, msg_id = %message.id, endpoints = queued, "message replayed");
    Ok(queued)
}

/// Starts the task that re-queues every message of the window whose latest delivery to the
/// endpoint failed or is parked, and makes those waiting for a retry due now.
pub async fn recover(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    window: ReplayWindow,
) -> OpResult<BackgroundTask> {
    let selection = ReplaySelection::FailedParkedOrRetrying;
    let filter = endpoint_filter(ops, principal, app, endpoint, selection, window).await?;
    start_task(ops, BackgroundTaskKind::EndpointRecover, filter).await
}

/// Starts the task that queues the messages of the window that the endpoint accepts but was
/// never sent.
pub async fn replay_missing(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    window: ReplayWindow,
) -> OpResult<BackgroundTask> {
    let selection = ReplaySelection::NeverQueued;
    let filter = endpoint_filter(ops, principal, app, endpoint, selection, window).await?;
    start_task(ops, BackgroundTaskKind::EndpointReplayMissing, filter).await
}

/// Starts the bulk replay task.
pub async fn bulk(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    replay: BulkReplay,
) -> OpResult<BackgroundTask> {
    let filter = bulk_filter(ops, principal, app, replay).await?;
    start_task(ops, BackgroundTaskKind::BulkReplay, filter).await
}

/// Counts what the bulk replay would queue now, and what matches but is still retrying.
pub async fn bulk_dry_run(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    replay: BulkReplay,
) -> OpResult<DryRun> {
    let filter = bulk_filter(ops, principal, app, replay).await?;
    let still_retrying_filter = ReplayFilter {
        selection: ReplaySelection::StillRetrying,
        ..filter.clone()
    };
    Ok(DryRun {
        count: ops.store.count_replay(filter).await?,
        still_retrying: ops.store.count_replay(still_retrying_filter).await?,
    })
}

async fn endpoint_filter(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    selection: ReplaySelection,
    window: ReplayWindow,
) -> OpResult<ReplayFilter> {
    let (app, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    Ok(ReplayFilter {
        app_id: app.id,
        endpoint_id: Some(endpoint.id),
        event_types: None,
        selection,
        since: window.since,
        until: window.until,
    })
}

async fn bulk_filter(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    replay: BulkReplay,
) -> OpResult<ReplayFilter> {
    let app_ref = AppRef::Named(app);
    let app = scope::application(ops, principal, app_ref).await?;
    let endpoint_id: Option<EndpointId> = match &replay.endpoint {
        None => None,
        Some(id_or_uid) => Some(
            scope::endpoint(ops, principal, app_ref, id_or_uid)
                .await?
                .1
                .id,
        ),
    };
    Ok(ReplayFilter {
        app_id: app.id,
        endpoint_id,
        event_types: replay.event_types,
        selection: replay.selection,
        since: replay.window.since,
        until: replay.window.until,
    })
}

/// Stores the task and wakes the runner; returns the task as stored.
async fn start_task(
    ops: &Ops,
    kind: BackgroundTaskKind,
    filter: ReplayFilter,
) -> OpResult<BackgroundTask> {
    start_background_task(ops, kind, filter, None).await
}

/// Stores a task (with the applications a usage task counts) and wakes the runner; returns
/// the task as stored. The caller has checked the principal.
pub(super) async fn start_background_task(
    ops: &Ops,
    kind: BackgroundTaskKind,
    filter: ReplayFilter,
    app_ids: Option<Vec<crate::domain::AppId>>,
) -> OpResult<BackgroundTask> {
    let now = ops.clock.now();
    let id = BackgroundTaskId::generate(now, rand::random());
    ops.store
        .create_background_task(NewBackgroundTask {
            id: id.clone(),
            kind,
            filter,
            app_ids,
            now,
        })
        .await?;
    ops.wake_background.notify_one();
    let task = ops
        .store
        .get_background_task(&id)
        .await?
        .ok_or(OpError::Internal("the new background task is missing"))?;
    tracing::info!(task_id = %task.id, task = kind.name(), app_id = %task.filter.app_id, "background task queued");
    Ok(task)
}
