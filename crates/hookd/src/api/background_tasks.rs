//! Background tasks (Svix `background_task.get/list`): the status and progress of long replays
//! started by `replay`. The tasks themselves are run by `crate::background`.

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use serde_json::{Value, json};

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::pagination::{ListResponse, page_request, render_page};
use super::params::{ApiPath, QueryParams};
use crate::domain::{BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, Timestamp};
use crate::ops::{Principal, background_tasks};
use crate::store::{BackgroundTask, Order};

/// A task as Svix renders it (`BackgroundTaskOut`). `data.messagesSent` is what Svix reports;
/// `batches`, `error` and the task's filter are hookd's additions.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskOut {
    pub id: BackgroundTaskId,
    pub status: &'static str,
    pub task: &'static str,
    pub data: Value,
    pub updated_at: Timestamp,
}

impl BackgroundTaskOut {
    pub fn render(task: BackgroundTask) -> Self {
        let filter = &task.filter;
        let mut data = json!({
            "messagesSent": task.messages_sent,
            "batches": task.batches,
            "appId": filter.app_id,
            "since": filter.since,
        });
        if let Some(until) = filter.until {
            data["until"] = json!(until);
        }
        if let Some(endpoint_id) = &filter.endpoint_id {
            data["endpointId"] = json!(endpoint_id);
        }
        if let Some(event_types) = &filter.event_types {
            data["eventTypes"] = json!(event_types);
        }
        if let Some(error) = &task.error {
            data["error"] = json!(error);
        }
        BackgroundTaskOut {
            id: task.id,
            status: task.status.name(),
            task: task.kind.name(),
            data,
            updated_at: task.updated_at,
        }
    }
}

/// `GET /background-task/{task_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(task_id): ApiPath<String>,
) -> ApiResult<Json<BackgroundTaskOut>> {
    let task = background_tasks::get(&ctx.ops, &principal, &task_id).await?;
    Ok(Json(BackgroundTaskOut::render(task)))
}

/// `GET /background-task`: newest first, filtered by `status` and `task`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<BackgroundTaskOut>>> {
    let status = match query.get("status") {
        None => None,
        Some(name) => Some(BackgroundTaskStatus::from_name(name).ok_or_else(|| {
            ApiError::invalid_query("status", "status must be running, finished or failed")
        })?),
    };
    let kind = match query.get("task") {
        None => None,
        Some(name) => Some(BackgroundTaskKind::from_name(name).ok_or_else(|| {
            ApiError::invalid_query(
                "task",
                "task must be endpoint.recover, endpoint.replay or endpoint.bulk-replay",
            )
        })?),
    };
    let page = page_request(&query, Order::Descending)?;
    let tasks = background_tasks::list(&ctx.ops, &principal, status, kind, page).await?;
    Ok(Json(render_page(tasks, BackgroundTaskOut::render)))
}
