//! Svix's bulk replay of one endpoint (`endpoint.bulk_replay`,
//! `POST /app/{app_id}/endpoint/{endpoint_id}/bulk-replay`), mapped onto hookd's own bulk
//! replay (`ops::replay::bulk`, task `endpoint.bulk-replay`), which `POST /app/{app_id}/replay`
//! also starts. Every field of Svix's `BulkReplayIn` is honoured or refused with a 422: hookd's
//! replay selects by window, event types and the latest delivery's status, not by channel,
//! tag or response status class.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use super::ApiContext;
use super::background_tasks::BackgroundTaskOut;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::params::ApiPath;
use super::replay::{checked_until, parse_event_type_filter};
use crate::domain::{ReplaySelection, Timestamp};
use crate::ops::replay::{self, BulkReplay, ReplayWindow};
use crate::ops::{AppRef, Named, Principal};

/// Svix's `BulkReplayIn`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SvixBulkReplayIn {
    #[schema(value_type = String, format = DateTime)]
    since: Timestamp,
    #[schema(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
    event_types: Option<Vec<String>>,
    /// Refused: hookd's replay does not select by channel.
    channel: Option<String>,
    /// Refused: hookd's replay does not select by tag.
    tag: Option<String>,
    /// Svix's `MessageStatus` of the latest delivery: 0 (success) or 2 (fail, parked
    /// included); absent replays both. 1, 3 and 4 are refused: only finished deliveries are
    /// replayed.
    status: Option<i64>,
    /// Refused: hookd's replay does not select by response status class.
    status_code_class: Option<i64>,
}

/// `POST /app/{app_id}/endpoint/{endpoint_id}/bulk-replay`: 202 with the task (Svix's
/// `ReplayOut`), whose `data.messagesSent` counts the deliveries queued.
pub async fn bulk_replay(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    ValidJson(input): ValidJson<SvixBulkReplayIn>,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let mut replay = input_after_lookup(&ctx, &principal, named, input.parse()).await?;
    replay.endpoint = Some(endpoint_id.clone());
    let task = replay::bulk(&ctx.ops, &principal, &app_id, replay).await?;
    Ok((StatusCode::ACCEPTED, Json(BackgroundTaskOut::render(task))))
}

impl SvixBulkReplayIn {
    fn parse(&self) -> ApiResult<BulkReplay> {
        let refused = [
            ("channel", self.channel.is_some(), "channel"),
            ("tag", self.tag.is_some(), "tag"),
            (
                "statusCodeClass",
                self.status_code_class.is_some(),
                "response status class",
            ),
        ];
        if let Some((field, _, what)) = refused.iter().find(|(_, given, _)| *given) {
            return Err(ApiError::invalid_body(
                &[field],
                format!("hookd's bulk replay cannot select by {what}; leave {field} out"),
            ));
        }
        let selection = match self.status {
            None => ReplaySelection::AnyFinished,
            Some(0) => ReplaySelection::Succeeded,
            Some(2) => ReplaySelection::FailedOrParked,
            Some(_) => {
                return Err(ApiError::invalid_body(
                    &["status"],
                    "status must be 0 (success) or 2 (fail): only finished deliveries are replayed",
                ));
            }
        };
        let event_types = parse_event_type_filter(self.event_types.as_deref())?;
        Ok(BulkReplay {
            endpoint: None,
            event_types,
            selection,
            window: ReplayWindow {
                since: self.since,
                until: checked_until(self.since, self.until)?,
            },
        })
    }
}
