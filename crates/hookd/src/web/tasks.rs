//! Background tasks (recover, replay-missing, bulk replay) with their progress, polled while
//! someone watches. Admin only, like the operations they call.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::WebContext;
use super::applications::first_page;
use super::layout::{self, Section};
use super::session::Session;
use crate::domain::BackgroundTaskStatus;
use crate::ops::{OpResult, background_tasks};
use crate::store::BackgroundTask;

/// `GET /tasks`.
pub async fn list(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
) -> Response {
    let table = match task_table(&ctx, &session).await {
        Ok(table) => table,
        Err(error) => return layout::op_error_page(error),
    };
    let content = html! {
        (layout::heading("Background tasks", Some(html! { "Recoveries and replays, newest first." }), None))
        section class="card" {
            div class="card-header" { h2 { "Tasks" } span class="live" { "live" } }
            div hx-get="/tasks/list" hx-trigger="every 2s" hx-swap="innerHTML" { (table) }
        }
    };
    layout::page(&session, Section::Tasks, "Background tasks", content).into_response()
}

/// `GET /tasks/list`: the table alone, for polling.
pub async fn list_fragment(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
) -> Response {
    match task_table(&ctx, &session).await {
        Ok(table) => table.into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

async fn task_table(ctx: &WebContext, session: &Session) -> OpResult<Markup> {
    let tasks =
        background_tasks::list(&ctx.ops, &session.principal, None, None, first_page()).await?;
    Ok(html! {
        @if tasks.items.is_empty() {
            (layout::empty("No background tasks yet. A replay from the dead-letter view starts one."))
        } @else {
            table class="table" {
                thead { tr { th { "Task" } th { "Kind" } th { "Application" } th { "Status" } th class="num" { "Messages sent" } th { "Updated" } } }
                tbody {
                    @for task in &tasks.items {
                        tr {
                            td { a class="mono strong" href={ "/tasks/" (task.id) } { (task.id) } }
                            td { (task.kind.name()) }
                            td { a class="mono" href={ "/apps/" (task.filter.app_id) } { (task.filter.app_id) } }
                            td { (status_badge(task)) }
                            td class="num" { (task.messages_sent) }
                            td class="muted" { (layout::time(task.updated_at)) }
                        }
                    }
                }
            }
        }
    })
}

fn status_badge(task: &BackgroundTask) -> Markup {
    match task.status {
        BackgroundTaskStatus::Running => layout::badge("info", "running"),
        BackgroundTaskStatus::Finished => layout::badge("ok", "finished"),
        BackgroundTaskStatus::Failed => layout::badge("bad", "failed"),
    }
}

/// `GET /tasks/{task_id}`: one task; polls itself until it ends.
pub async fn show(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(task_id): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    let task = match background_tasks::get(&ctx.ops, &session.principal, &task_id).await {
        // The dashboard shows a task's progress; a usage task's rows are the API's to render.
        Ok((task, _usage)) => task,
        Err(error) => return layout::op_error_page(error),
    };
    let body = task_body(&task);
    if headers.contains_key("hx-request") {
        return body.into_response();
    }
    let content = html! {
        (layout::crumbs(&[("Background tasks", Some("/tasks".to_owned())), ("Task", None)]))
        (layout::heading(task.kind.name(), Some(html! { code { (task.id) } }), None))
        section class="card" { (body) }
    };
    layout::page(&session, Section::Tasks, "Task", content).into_response()
}

fn task_body(task: &BackgroundTask) -> Markup {
    let running = task.status == BackgroundTaskStatus::Running;
    html! {
        div id="task-body" hx-get=[running.then(|| format!("/tasks/{}", task.id))] hx-trigger=[running.then_some("every 1s")] hx-swap="outerHTML" {
            div class="task-status" data-testid="task-status" { (status_badge(task)) }
            div class={ "progress" @if running { " progress-running" } } { div class="progress-bar" {} }
            dl class="facts" {
                dt { "Application" } dd { a class="mono" href={ "/apps/" (task.filter.app_id) } { (task.filter.app_id) } }
                dt { "Endpoint" } dd { @match &task.filter.endpoint_id { Some(id) => code { (id) }, None => "all" } }
                dt { "Messages sent" } dd data-testid="task-sent" { (task.messages_sent) }
                dt { "Batches" } dd { (task.batches) }
                dt { "Since" } dd { (layout::time(task.filter.since)) }
                dt { "Started" } dd { (layout::time(task.created_at)) }
                dt { "Updated" } dd { (layout::time(task.updated_at)) }
                @if let Some(error) = &task.error { dt { "Error" } dd { (error) } }
            }
            @if !running { a class="button" href={ "/apps/" (task.filter.app_id) "/dead-letters" } { "Back to dead letters" } }
        }
    }
}
