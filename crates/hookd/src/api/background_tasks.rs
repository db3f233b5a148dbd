//! Background tasks (Svix `background_task.get/list`): the status and progress of long replays
//! started by `replay`. The tasks themselves are run by `crate::background`.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use utoipa::openapi::{RefOr, schema::Schema};

use super::ApiContext;
use super::error::ApiResult;
use super::openapi::schemas;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, ApiQuery, QueryValue, optional};
use crate::domain::{BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, Timestamp};
use crate::ops::{Principal, background_tasks};
use crate::store::{BackgroundTask, Order};

/// A task as Svix renders it (`BackgroundTaskOut`). `data.messagesSent` is what Svix reports;
/// `batches`, `error` and the task's filter are hookd's additions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundTaskOut {
    pub id: BackgroundTaskId,
    pub status: &'static str,
    pub task: &'static str,
    pub data: Value,
    #[schema(value_type = String, format = DateTime)]
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

/// The filters of `GET /background-task` (beside its `PageQuery`).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BackgroundTaskListQuery {
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    status: Option<BackgroundTaskStatus>,
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    task: Option<BackgroundTaskKind>,
}

impl QueryValue for BackgroundTaskStatus {
    fn parse_query(text: &str) -> Result<Self, String> {
        BackgroundTaskStatus::from_name(text)
            .ok_or_else(|| "status must be running, finished or failed".to_owned())
    }
}

impl utoipa::PartialSchema for BackgroundTaskStatus {
    fn schema() -> RefOr<Schema> {
        schemas::string_enum(&["running", "finished", "failed"])
    }
}

impl QueryValue for BackgroundTaskKind {
    fn parse_query(text: &str) -> Result<Self, String> {
        BackgroundTaskKind::from_name(text).ok_or_else(|| {
            "task must be endpoint.recover, endpoint.replay or endpoint.bulk-replay".to_owned()
        })
    }
}

impl utoipa::PartialSchema for BackgroundTaskKind {
    fn schema() -> RefOr<Schema> {
        schemas::string_enum(&[
            "endpoint.recover",
            "endpoint.replay",
            "endpoint.bulk-replay",
        ])
    }
}

/// `GET /background-task`: newest first, filtered by `status` and `task`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiQuery(page): ApiQuery<PageQuery>,
    ApiQuery(query): ApiQuery<BackgroundTaskListQuery>,
) -> ApiResult<Json<ListResponse<BackgroundTaskOut>>> {
    let page = page.request(Order::Descending);
    let tasks =
        background_tasks::list(&ctx.ops, &principal, query.status, query.task, page).await?;
    Ok(Json(render_page(tasks, BackgroundTaskOut::render)))
}
