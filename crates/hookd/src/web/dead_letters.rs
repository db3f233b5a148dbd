//! The dead-letter view: message/endpoint pairs whose latest delivery failed or is parked,
//! polled while someone watches, with a dry-run count and a bulk replay (the existing
//! `ops::replay::bulk`, which runs as a background task).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::WebContext;
use super::applications::{first_page, stat};
use super::layout::{self, Section};
use super::messages::parse_time;
use super::session::Session;
use crate::domain::{EventTypeName, ReplaySelection};
use crate::ops::replay::{BulkReplay, ReplayWindow};
use crate::ops::{AppRef, OpResult, applications, delivery_logs, endpoints, replay};
use crate::store::Order;
use crate::store::logs::{DeadLetterFilter, DeadLetterSummary};

/// `GET /apps/{app_id}/dead-letters`.
pub async fn show(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
) -> Response {
    match render(&ctx, &session, &app_id).await {
        Ok(page) => page.into_response(),
        Err(error) => layout::op_error_page(error),
    }
}

async fn render(ctx: &WebContext, session: &Session, app_id: &str) -> OpResult<Markup> {
    let principal = &session.principal;
    let app = applications::get(&ctx.ops, principal, app_id).await?;
    let endpoints = endpoints::list(
        &ctx.ops,
        principal,
        AppRef::Named(app.id.as_str()),
        crate::store::PageRequest {
            order: Order::Ascending,
            ..first_page()
        },
    )
    .await?
    .items;
    let list = dead_letter_list(ctx, session, app.id.as_str()).await?;
    let base = format!("/apps/{}", app.id);
    // A portal session sees only the buttons its capabilities (and read-only flag) allow.
    let may_dry_run = session.may_post("/apps/{app_id}/dead-letters/dry-run");
    let may_replay = session.may_post("/apps/{app_id}/dead-letters/replay");
    let content = html! {
        (layout::crumbs(&[("Applications", Some("/".to_owned())), (&app.name, Some(base.clone())), ("Dead letters", None)]))
        (layout::heading("Dead letters", Some(html! { "Messages whose latest delivery ran out of retries, or waits behind a disabled endpoint." }), None))
        div hx-get={ (base) "/dead-letters/list" } hx-trigger="every 3s" hx-swap="innerHTML" { (list) }
        @if may_dry_run || may_replay { section class="card" {
            div class="card-header" { h2 { "Replay" } }
            p class="muted" { "Queues one new delivery for every selected pair. Check the count first with a dry run." }
            form class="form-inline" method="post" action={ (base) "/dead-letters/replay" } hx-post={ (base) "/dead-letters/replay" } hx-target="#replay-result" {
                (layout::csrf_field(session))
                label { "Endpoint"
                    select name="endpoint" {
                        option value="" { "All endpoints" }
                        @for endpoint in &endpoints { option value=(endpoint.id) { (endpoint.fields.url.as_str()) } }
                    }
                }
                label { "Which"
                    select name="selection" {
                        option value="failed" { "Failed" }
                        option value="parked" { "Parked" }
                        option value="failed-parked-or-retrying" { "Failed, parked or retrying" }
                    }
                }
                label { "Event type (optional)" input name="event_type" type="text"; }
                label { "Since (UTC, optional)" input name="since" type="datetime-local"; }
                @if may_dry_run {
                    button class="button" type="button" hx-post={ (base) "/dead-letters/dry-run" } hx-target="#replay-result" { "Dry run" }
                }
                @if may_replay {
                    button class="button primary" type="submit" { "Replay" }
                }
            }
            div id="replay-result" {}
        } }
    };
    Ok(layout::page(
        session,
        Section::Applications,
        "Dead letters",
        content,
    ))
}

/// `GET /apps/{app_id}/dead-letters/list`: the counts and the table, for polling.
pub async fn list_fragment(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
) -> Response {
    match dead_letter_list(&ctx, &session, &app_id).await {
        Ok(list) => list.into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

async fn dead_letter_list(ctx: &WebContext, session: &Session, app_id: &str) -> OpResult<Markup> {
    let principal = &session.principal;
    let groups = delivery_logs::count_dead_letters(&ctx.ops, principal, app_id).await?;
    let summary = DeadLetterSummary::from_groups(&groups);
    let page = delivery_logs::list_dead_letters(
        &ctx.ops,
        principal,
        app_id,
        None,
        DeadLetterFilter::default(),
        first_page(),
    )
    .await?;
    let base = format!("/apps/{app_id}");
    Ok(html! {
        div class="stats-row" {
            (stat("Failed", &summary.total.failed.to_string(), Some(if summary.total.failed > 0 { "bad" } else { "ok" })))
            (stat("Parked", &summary.total.parked.to_string(), Some(if summary.total.parked > 0 { "warn" } else { "ok" })))
        }
        section class="card" {
            div class="card-header" { h2 { "Pairs" } span class="live" { "live" } }
            @if page.items.is_empty() {
                (layout::empty("No dead letters: every message reached its endpoints or is still being retried."))
            } @else {
                table class="table" data-testid="dead-letters" {
                    thead { tr { th { "Message" } th { "Event type" } th { "Endpoint" } th { "State" } th class="num" { "Attempts" } th { "Last attempt" } } }
                    tbody {
                        @for letter in &page.items {
                            tr {
                                td { a class="mono strong" href={ (base) "/messages/" (letter.msg_id) } { (letter.msg_id) } }
                                td { span class="chip" { (letter.event_type.as_str()) } }
                                td { a class="mono" href={ (base) "/endpoints/" (letter.endpoint_id) } { (letter.endpoint_id) } }
                                td { @if letter.parked { (layout::badge("warn", "parked")) } @else { (layout::badge("bad", "failed")) } }
                                td class="num" { (letter.attempts_made) }
                                td class="muted" { @match letter.last_attempt_at { Some(at) => (layout::time(at)), None => "–" } }
                            }
                        }
                    }
                }
            }
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    selection: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    since: String,
}

impl ReplayForm {
    fn parse(&self, ctx: &WebContext) -> Result<BulkReplay, String> {
        let selection = match self.selection.as_str() {
            "failed" => ReplaySelection::Failed,
            "parked" => ReplaySelection::Parked,
            "failed-parked-or-retrying" => ReplaySelection::FailedParkedOrRetrying,
            other => return Err(format!("Which: {other:?} is not a selection")),
        };
        let event_types = match self.event_type.trim() {
            "" => None,
            name => Some(vec![
                EventTypeName::parse(name).map_err(|e| format!("Event type: {e}"))?,
            ]),
        };
        // Without a start, everything whose payload is still kept.
        let since = parse_time(&self.since)
            .map_err(|e| format!("Since: {e}"))?
            .unwrap_or_else(|| {
                let retention = chrono::Duration::from_std(ctx.ops.payload_retention)
                    .unwrap_or(chrono::Duration::days(30));
                ctx.ops.clock.now() - retention
            });
        Ok(BulkReplay {
            endpoint: Some(self.endpoint.trim().to_owned()).filter(|e| !e.is_empty()),
            event_types,
            selection,
            window: ReplayWindow { since, until: None },
        })
    }
}

/// `POST /apps/{app_id}/dead-letters/dry-run`: how many a replay would queue now.
pub async fn dry_run(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
    Form(form): Form<ReplayForm>,
) -> Response {
    let selected = match form.parse(&ctx) {
        Ok(selected) => selected,
        Err(message) => return layout::invalid(message),
    };
    match replay::bulk_dry_run(&ctx.ops, &session.principal, &app_id, selected).await {
        Ok(count) => layout::success_fragment(html! {
            span data-testid="dry-run-count" { (count.count) } " deliveries would be queued now"
            @if count.still_retrying > 0 { "; " (count.still_retrying) " pairs still being retried are left alone" }
            "."
        })
        .into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

/// `POST /apps/{app_id}/dead-letters/replay`: starts the bulk replay and shows its task.
pub async fn replay(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<ReplayForm>,
) -> Response {
    let selected = match form.parse(&ctx) {
        Ok(selected) => selected,
        Err(message) => return layout::invalid(message),
    };
    match replay::bulk(&ctx.ops, &session.principal, &app_id, selected).await {
        Ok(task) => layout::go_to(&headers, &format!("/tasks/{}", task.id)),
        Err(error) => layout::op_error_fragment(error),
    }
}
