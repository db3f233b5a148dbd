//! The usage statistics (Svix `statistics.aggregate_app_stats`, `POST /stats/usage/app`, and
//! `statistics.aggregate_event_types`, `PUT /stats/usage/event-types`): admin-only background
//! tasks whose result `GET /background-task/{id}` returns in `data` (`appStats`,
//! `event_types`).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::background_tasks::BackgroundTaskOut;
use super::error::ApiResult;
use super::json::ValidJson;
use super::replay::checked_until;
use crate::domain::Timestamp;
use crate::ops::replay::ReplayWindow;
use crate::ops::{Principal, usage_stats};

/// Svix's `AppUsageStatsIn`: messages created in `[since, until)`, of the applications
/// `appIds` names (ids or uids), or of all.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUsageStatsIn {
    #[schema(value_type = String, format = DateTime)]
    since: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    until: Timestamp,
    app_ids: Option<Vec<String>>,
}

/// Svix's `AppUsageStatsOut`: the task, and the names of `appIds` that were not found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppUsageStatsOut {
    #[serde(flatten)]
    task: BackgroundTaskOut,
    unresolved_app_ids: Vec<String>,
}

/// `POST /stats/usage/app`: starts `application.stats`; 202 with the task.
pub async fn aggregate_app_stats(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ValidJson(input): ValidJson<AppUsageStatsIn>,
) -> ApiResult<(StatusCode, Json<AppUsageStatsOut>)> {
    let until = checked_until(input.since, Some(input.until))?;
    let window = ReplayWindow {
        since: input.since,
        until,
    };
    let started =
        usage_stats::aggregate_app_stats(&ctx.ops, &principal, window, input.app_ids).await?;
    let answer = AppUsageStatsOut {
        task: BackgroundTaskOut::render(started.task),
        unresolved_app_ids: started.unresolved,
    };
    Ok((StatusCode::ACCEPTED, Json(answer)))
}

/// `PUT /stats/usage/event-types`: starts `event-type.aggregate`; 202 with the task.
pub async fn aggregate_event_types(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let task = usage_stats::aggregate_event_types(&ctx.ops, &principal).await?;
    Ok((StatusCode::ACCEPTED, Json(BackgroundTaskOut::render(task))))
}
