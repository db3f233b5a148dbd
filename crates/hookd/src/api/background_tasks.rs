//! Background tasks (Svix `background_task.get/list`): the status and progress of long replays
//! started by `replay`, content purges (`erasure`) and the usage statistics (`usage_stats`,
//! whose result a task's `data` carries). The tasks themselves are run by `crate::background`.

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
use crate::store::{BackgroundTask, Order, UsageRow};

/// A task as Svix renders it (`BackgroundTaskOut`). `data` holds what Svix reports for the
/// kind: `messagesSent` for a replay, `messagesPurged` for `application.purge_content`,
/// `appStats` for `application.stats` and `event_types` (Svix's spelling) for
/// `event-type.aggregate`; `batches`, `error` and the task's filter are hookd's additions.
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
    /// The task without a usage task's result (a list shows none; read the task for it).
    pub fn render(task: BackgroundTask) -> Self {
        Self::render_with(task, None)
    }

    /// The task; for a usage task, with its result so far.
    pub fn render_with(task: BackgroundTask, usage: Option<&[UsageRow]>) -> Self {
        let filter = &task.filter;
        let mut data = match task.kind {
            BackgroundTaskKind::PurgeContent => json!({
                "messagesPurged": task.messages_sent,
                "appId": filter.app_id,
            }),
            BackgroundTaskKind::AppStats => {
                let mut data = json!({ "appsCounted": task.messages_sent, "since": filter.since });
                if let Some(until) = filter.until {
                    data["until"] = json!(until);
                }
                if let Some(rows) = usage {
                    data["appStats"] = rows.iter().map(app_stats_row).collect();
                }
                data
            }
            BackgroundTaskKind::EventTypeAggregate => {
                let mut data = json!({ "appsCounted": task.messages_sent });
                if let Some(rows) = usage {
                    data["event_types"] = rows.iter().map(event_types_row).collect();
                }
                data
            }
            _ => replay_data(&task),
        };
        data["batches"] = json!(task.batches);
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

fn replay_data(task: &BackgroundTask) -> Value {
    let filter = &task.filter;
    let mut data = json!({
        "messagesSent": task.messages_sent,
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
    data
}

fn app_stats_row(row: &UsageRow) -> Value {
    json!({
        "appId": row.app_id,
        "appUid": row.app_uid,
        "messageDestinations": row.message_destinations,
    })
}

fn event_types_row(row: &UsageRow) -> Value {
    json!({
        "appId": row.app_id,
        "explicitlySubscribedEventTypes": row.event_types,
        "hasCatchAllEndpoint": row.has_catch_all,
    })
}

/// `GET /background-task/{task_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(task_id): ApiPath<String>,
) -> ApiResult<Json<BackgroundTaskOut>> {
    let (task, usage) = background_tasks::get(&ctx.ops, &principal, &task_id).await?;
    let usage = task.kind.is_environment_wide().then_some(usage.as_slice());
    Ok(Json(BackgroundTaskOut::render_with(task, usage)))
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
            let names: Vec<&str> = BackgroundTaskKind::ALL
                .iter()
                .map(|kind| kind.name())
                .collect();
            format!("task must be one of {}", names.join(", "))
        })
    }
}

impl utoipa::PartialSchema for BackgroundTaskKind {
    fn schema() -> RefOr<Schema> {
        let names: Vec<&str> = BackgroundTaskKind::ALL
            .iter()
            .map(|kind| kind.name())
            .collect();
        schemas::string_enum(&names)
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
