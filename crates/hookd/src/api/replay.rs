//! Replays: one message to all its endpoints, an endpoint's recovery (Svix `endpoint.recover`)
//! and missing messages (Svix `endpoint.replay_missing`), and hookd's bulk replay by filter with
//! a dry run.
//!
//! A replay is always a new manual delivery (trigger type 1): the receiver sees the same
//! `webhook-id` (the message id) with a new timestamp and signature, and earlier attempts stay
//! as they were. Replaying one message is one short transaction answered at once; the others may
//! cover millions of messages, so they are stored as background tasks and run by
//! `crate::background` in batches, and the answer is the task to poll.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ApiContext;
use super::background_tasks::BackgroundTaskOut;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::params::ApiPath;
use crate::domain::{EventTypeName, ReplaySelection, Timestamp};
use crate::ops::replay::{self, BulkReplay, ReplayWindow};
use crate::ops::{AppRef, Named, Principal};
use crate::store::BackgroundTask;

/// The answer of a bulk replay's dry run: the deliveries a real run would queue now, and those
/// that match but are still being retried (a replay takes only finished ones).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DryRunOut {
    pub count: u64,
    pub still_retrying: u64,
}

/// Svix's `RecoverIn` and `ReplayIn`: messages created in `[since, until)`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct WindowIn {
    #[schema(value_type = String, format = DateTime)]
    since: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
}

/// Which deliveries a bulk replay selects, by the latest delivery of each message/endpoint pair.
#[derive(Debug, Clone, Copy, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
enum BulkReplayStatus {
    /// Out of retries.
    #[default]
    Failed,
    /// Parked behind a disabled endpoint.
    Parked,
    /// Any finished delivery, including successful ones.
    Any,
}

/// hookd's bulk replay request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BulkReplayIn {
    event_types: Option<Vec<String>>,
    endpoint_id: Option<String>,
    #[serde(default)]
    status: BulkReplayStatus,
    #[schema(value_type = String, format = DateTime)]
    since: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    #[serde(default)]
    dry_run: bool,
}

/// `POST /app/{app_id}/msg/{msg_id}/replay`: one manual delivery, due now, to every endpoint
/// the message was originally fanned out to (endpoints created since are not included, and
/// endpoints deleted since are gone). Answers 202 with `{}`.
pub async fn message(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    replay::replay_message(&ctx.ops, &principal, &app_id, &msg_id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// `POST /app/{app_id}/endpoint/{endpoint_id}/recover`: re-queues every message of the window
/// whose latest delivery to the endpoint failed or is parked, makes those waiting for a retry
/// due now (both count in `messagesSent`), and ends the endpoint's rest, so everything it missed
/// arrives at once. Does not re-enable the endpoint: deliveries to a disabled endpoint are
/// parked again.
pub async fn recover(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    ValidJson(window): ValidJson<WindowIn>,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let window = input_after_lookup(&ctx, &principal, named, window.parse()).await?;
    let task = replay::recover(&ctx.ops, &principal, &app_id, &endpoint_id, window).await?;
    Ok(started(task))
}

/// `POST /app/{app_id}/endpoint/{endpoint_id}/replay-missing`: queues the messages of the
/// window that the endpoint accepts but was never sent (it was created, or its filters changed,
/// after they were).
pub async fn replay_missing(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    ValidJson(window): ValidJson<WindowIn>,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let window = input_after_lookup(&ctx, &principal, named, window.parse()).await?;
    let task = replay::replay_missing(&ctx.ops, &principal, &app_id, &endpoint_id, window).await?;
    Ok(started(task))
}

/// `POST /app/{app_id}/replay`: replays by filter. With `dryRun` it answers
/// `{"count": N, "stillRetrying": M}`: N deliveries a real run would queue now, and M more that
/// match but are still being retried (a replay takes only finished ones); otherwise it starts a
/// task.
pub async fn bulk(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<BulkReplayIn>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let dry_run = input.dry_run;
    let named = Named {
        filter_endpoint: input.endpoint_id.as_deref(),
        ..Named::app(AppRef::Named(&app_id))
    };
    let replay = input_after_lookup(&ctx, &principal, named, input.parse()).await?;
    if dry_run {
        let dry_run = replay::bulk_dry_run(&ctx.ops, &principal, &app_id, replay).await?;
        let answer = DryRunOut {
            count: dry_run.count,
            still_retrying: dry_run.still_retrying,
        };
        let body =
            serde_json::to_value(answer).map_err(|_| ApiError::Internal("rendering a dry run"))?;
        return Ok((StatusCode::OK, Json(body)));
    }
    let (status, Json(task)) = started(replay::bulk(&ctx.ops, &principal, &app_id, replay).await?);
    let body = serde_json::to_value(task).map_err(|_| ApiError::Internal("rendering the task"))?;
    Ok((status, Json(body)))
}

impl BulkReplayIn {
    fn parse(&self) -> ApiResult<BulkReplay> {
        let event_types = parse_event_type_filter(self.event_types.as_deref())?;
        Ok(BulkReplay {
            endpoint: self.endpoint_id.clone(),
            event_types,
            selection: match self.status {
                BulkReplayStatus::Failed => ReplaySelection::Failed,
                BulkReplayStatus::Parked => ReplaySelection::Parked,
                BulkReplayStatus::Any => ReplaySelection::AnyFinished,
            },
            window: ReplayWindow {
                since: self.since,
                until: checked_until(self.since, self.until)?,
            },
        })
    }
}

/// 202 with the task to poll.
fn started(task: BackgroundTask) -> (StatusCode, Json<BackgroundTaskOut>) {
    (StatusCode::ACCEPTED, Json(BackgroundTaskOut::render(task)))
}

impl WindowIn {
    fn parse(self) -> ApiResult<ReplayWindow> {
        Ok(ReplayWindow {
            since: self.since,
            until: checked_until(self.since, self.until)?,
        })
    }
}

/// The `eventTypes` of a replay request (`POST /app/{app_id}/replay` and Svix's
/// `endpoint.bulk_replay` share it): absent selects every event type, a list only those named
/// (an empty list selects nothing). A name that does not parse is a 422 at
/// `["body", "eventTypes", index]`, the first bad one reported.
pub(super) fn parse_event_type_filter(
    names: Option<&[String]>,
) -> ApiResult<Option<Vec<EventTypeName>>> {
    let Some(names) = names else {
        return Ok(None);
    };
    names
        .iter()
        .enumerate()
        .map(|(index, name)| {
            EventTypeName::parse(name).map_err(|error| {
                ApiError::invalid_input(&["eventTypes", &index.to_string()], error)
            })
        })
        .collect::<ApiResult<Vec<_>>>()
        .map(Some)
}

/// `until`, which must be later than `since` when given.
pub(super) fn checked_until(
    since: Timestamp,
    until: Option<Timestamp>,
) -> ApiResult<Option<Timestamp>> {
    match until {
        Some(until) if until <= since => Err(ApiError::invalid_body(
            &["until"],
            "until must be later than since",
        )),
        _ => Ok(until),
    }
}
