//! One inbound source's request log: the newest requests it received with their verdict and
//! the reason of a rejection, each one's headers (secrets already redacted when it was
//! recorded) and body on demand, and a replay button for an accepted one. The table polls
//! itself, so a person watching sees new requests arrive.

use axum::Extension;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::WebContext;
use super::applications::first_page;
use super::layout;
use super::session::Session;
use crate::domain::inbound::{InboundRequestRecord, Source, Verdict};
use crate::ops::{OpResult, inbound};

/// The request log's card, as the source's page embeds it.
pub async fn table(ctx: &WebContext, session: &Session, source: &Source) -> OpResult<Markup> {
    let requests = inbound::list_requests(
        &ctx.ops,
        &session.principal,
        source.id.as_str(),
        first_page(),
    )
    .await?;
    Ok(html! {
        section class="card" {
            div class="card-header" {
                h2 { "Requests" }
                span class="muted small" { "newest first · updates every 5 s" }
            }
            div id="replay-request-result" {}
            (rows(session, source, &requests.items))
        }
    })
}

/// `GET /sources/{source_id}/requests`: the table alone, for htmx to poll.
pub async fn list_fragment(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(source_id): Path<String>,
) -> Response {
    let listed = async {
        let source = inbound::get_source(&ctx.ops, &session.principal, &source_id).await?;
        let requests = inbound::list_requests(
            &ctx.ops,
            &session.principal,
            source.id.as_str(),
            first_page(),
        )
        .await?;
        Ok(rows(&session, &source, &requests.items))
    };
    match listed.await {
        Ok(markup) => markup.into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

/// `POST /sources/{source_id}/requests/{request_id}/replay`: the request's message again to the
/// source's ingest endpoints.
pub async fn replay(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((source_id, request_id)): Path<(String, String)>,
) -> Response {
    match inbound::replay_request(&ctx.ops, &session.principal, &source_id, &request_id).await {
        Ok(queued) => layout::success_fragment(html! {
            "Replayed " code { (request_id) } ": queued to " (queued) " ingest endpoint" @if queued != 1 { "s" } "."
        })
        .into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

fn rows(session: &Session, source: &Source, requests: &[InboundRequestRecord]) -> Markup {
    let poll = format!("/sources/{}/requests", source.id);
    html! {
        div id="source-requests" hx-get=(poll) hx-trigger="every 5s" hx-swap="outerHTML" {
            @if requests.is_empty() {
                (layout::empty("No requests received yet."))
            } @else {
                table class="table" data-testid="source-requests" {
                    thead { tr { th { "Received" } th { "Verdict" } th { "Message" } th { "Details" } th {} } }
                    tbody {
                        @for request in requests { (row(session, source, request)) }
                    }
                }
            }
        }
    }
}

fn row(session: &Session, source: &Source, request: &InboundRequestRecord) -> Markup {
    let (tone, label, reason) = match &request.verdict {
        Verdict::Accepted => ("ok", "accepted", None),
        Verdict::Duplicate => ("muted", "duplicate", None),
        Verdict::Rejected(reason) => ("bad", "rejected", Some(reason.code())),
    };
    let replayable = !matches!(request.verdict, Verdict::Rejected(_)) && request.msg_id.is_some();
    let replay = format!("/sources/{}/requests/{}/replay", source.id, request.id);
    html! {
        tr data-testid="source-request" {
            td { (layout::time(request.received_at)) div class="muted small mono" { (request.id) } }
            td {
                (layout::badge(tone, label))
                @if let Some(reason) = reason { " " span class="chip chip-muted" data-testid="reject-reason" { (reason) } }
            }
            td class="mono small" {
                @match &request.msg_id { Some(msg_id) => (msg_id), None => span class="muted" { "none" } }
                @if let Some(key) = &request.dedupe_key { div class="muted small" { "dedupe " (key) } }
            }
            td {
                details {
                    summary { "Headers and body" }
                    table class="table compact" {
                        tbody { @for (name, value) in &request.headers { tr { td { code { (name) } } td class="mono" { (value) } } } }
                    }
                    @match std::str::from_utf8(&request.body) {
                        Ok(text) if text.is_empty() => p class="muted" { "(empty body)" },
                        Ok(text) => (layout::json_block(text)),
                        Err(_) => p class="muted" { (request.body.len()) " bytes, not text" },
                    }
                }
            }
            td {
                @if replayable {
                    form method="post" action=(replay) hx-post=(replay) hx-target="#replay-request-result" {
                        (layout::csrf_field(session))
                        button class="button" type="submit" { "Replay" }
                    }
                }
            }
        }
    }
}
