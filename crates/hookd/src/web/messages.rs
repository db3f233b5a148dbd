//! Messages: the searchable list (event type, channel, tag, time), one message with its
//! payload and every attempt as a timeline (polled while someone watches), and the test event
//! form, which accepts a message through `ops::messages::accept` like the API does.
//!
//! Size: three pages that share their search form, timeline and test-event parts, and the
//! templates are most of the lines; split when a fourth page joins them.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use chrono::{NaiveDateTime, TimeZone, Utc};
use maud::{Markup, html};
use serde::Deserialize;

use super::WebContext;
use super::applications::first_page;
use super::layout::{self, Section};
use super::session::Session;
use crate::domain::{
    Application, Attempt, ChannelName, DeliveryStatus, EventTypeName, MessagePayload, Timestamp,
    schema_example,
};
use crate::ops::attempts::AttemptQuery;
use crate::ops::messages::AcceptMessage;
use crate::ops::{OpResult, applications, attempts, event_types, messages};
use crate::store::MessageFilter;

/// The test event form of an application: an event type from the catalogue (or any name) and
/// a payload, prefilled from the first event type's schema example.
pub async fn test_event_form(
    ctx: &WebContext,
    session: &Session,
    app: &Application,
) -> OpResult<Markup> {
    let catalogue = event_types::list(&ctx.ops, &session.principal, first_page(), false).await?;
    let first = catalogue.items.first();
    let payload = first
        .and_then(|event_type| example_payload(event_type.fields.schemas.as_ref()))
        .unwrap_or_else(|| "{\n  \"test\": true\n}".to_owned());
    let base = format!("/apps/{}", app.id);
    Ok(html! {
        section class="card" {
            div class="card-header" { h2 { "Send a test event" } }
            form class="form-stack" method="post" action={ (base) "/test-event" } hx-post={ (base) "/test-event" } hx-target="#test-event-result" {
                (layout::csrf_field(session))
                label { "Event type"
                    select name="event_type" hx-get={ (base) "/test-event/payload" } hx-target="#test-payload" hx-swap="outerHTML" hx-trigger="change" {
                        @for event_type in &catalogue.items {
                            option value=(event_type.name.as_str()) { (event_type.name.as_str()) }
                        }
                        @if catalogue.items.is_empty() { option value="test.event" { "test.event" } }
                    }
                }
                label { "Payload (JSON)" (payload_area(&payload)) }
                button class="button primary" type="submit" { "Send test event" }
                div id="test-event-result" {}
            }
        }
    })
}

fn payload_area(payload: &str) -> Markup {
    html! { textarea id="test-payload" name="payload" class="mono" rows="8" spellcheck="false" { (payload) } }
}

/// The first example of the newest schema version (`domain::schema_example`, as the API's
/// `send-example` picks it), pretty-printed.
fn example_payload(schemas: Option<&serde_json::Value>) -> Option<String> {
    let example = schema_example(schemas, None).ok()?;
    serde_json::to_string_pretty(example).ok()
}

#[derive(Debug, Deserialize)]
pub struct PayloadQuery {
    #[serde(default)]
    event_type: String,
}

/// `GET /apps/{app_id}/test-event/payload?event_type=`: the prefilled payload for a type.
pub async fn test_event_payload(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Query(query): Query<PayloadQuery>,
) -> Markup {
    let schemas = event_types::get(&ctx.ops, &session.principal, &query.event_type)
        .await
        .ok()
        .and_then(|event_type| event_type.fields.schemas);
    payload_area(
        &example_payload(schemas.as_ref()).unwrap_or_else(|| "{\n  \"test\": true\n}".to_owned()),
    )
}

#[derive(Debug, Deserialize)]
pub struct TestEventForm {
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    payload: String,
}

/// `POST /apps/{app_id}/test-event`.
pub async fn send_test_event(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<TestEventForm>,
) -> Response {
    let event_type = match EventTypeName::parse(form.event_type.trim()) {
        Ok(name) => name,
        Err(error) => return layout::invalid(format!("Event type: {error}")),
    };
    let payload = match MessagePayload::parse(form.payload.trim()) {
        Ok(payload) => payload,
        Err(error) => return layout::invalid(format!("Payload: {error}")),
    };
    let message = AcceptMessage {
        event_type,
        payload,
        event_id: None,
        channels: Vec::new(),
        tags: vec!["dashboard-test".to_owned()],
        deliver_at: None,
        application: None,
    };
    match messages::accept(&ctx.ops, &session.principal, &app_id, message).await {
        Ok(message) => layout::go_to(
            &headers,
            &format!("/apps/{}/messages/{}", message.app_id, message.id),
        ),
        Err(error) => layout::op_error_fragment(error),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct MessageSearch {
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    tag: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    before: String,
}

impl MessageSearch {
    fn filter(&self) -> Result<MessageFilter, String> {
        let event_types = match self.event_type.trim() {
            "" => None,
            name => Some(vec![
                EventTypeName::parse(name).map_err(|e| format!("Event type: {e}"))?,
            ]),
        };
        let channel = match self.channel.trim() {
            "" => None,
            name => Some(ChannelName::parse(name).map_err(|e| format!("Channel: {e}"))?),
        };
        let tag = Some(self.tag.trim().to_owned()).filter(|tag| !tag.is_empty());
        Ok(MessageFilter {
            event_types,
            channel,
            tag,
            after: parse_time(&self.after).map_err(|e| format!("From: {e}"))?,
            before: parse_time(&self.before).map_err(|e| format!("Until: {e}"))?,
        })
    }
}

/// A `datetime-local` input's value (`2026-01-02T03:04`, seconds optional), read as UTC.
pub fn parse_time(value: &str) -> Result<Option<Timestamp>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|naive| Some(Utc.from_utc_datetime(&naive)))
        .ok_or_else(|| format!("{value:?} is not a date and time like 2026-01-02T03:04"))
}

/// `GET /apps/{app_id}/messages`.
pub async fn list(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
    Query(search): Query<MessageSearch>,
) -> Response {
    let app = match applications::get(&ctx.ops, &session.principal, &app_id).await {
        Ok(app) => app,
        Err(error) => return layout::op_error_page(error),
    };
    let (found, error) = match search.filter() {
        Ok(filter) => match messages::list(
            &ctx.ops,
            &session.principal,
            app.id.as_str(),
            filter,
            first_page(),
            false,
        )
        .await
        {
            Ok(page) => (page.items, None),
            Err(error) => return layout::op_error_page(error),
        },
        Err(message) => (Vec::new(), Some(message)),
    };
    let base = format!("/apps/{}", app.id);
    let content = html! {
        (layout::crumbs(&[("Applications", Some("/".to_owned())), (&app.name, Some(base.clone())), ("Messages", None)]))
        (layout::heading("Messages", Some(html! { "Newest first, in " (app.name) "." }), None))
        section class="card" {
            form class="form-inline filters" method="get" action={ (base) "/messages" } {
                label { "Event type" input name="event_type" value=(search.event_type) placeholder="invoice.paid"; }
                label { "Channel" input name="channel" value=(search.channel) placeholder="project-1"; }
                label { "Tag" input name="tag" value=(search.tag); }
                label { "From (UTC)" input name="after" type="datetime-local" value=(search.after); }
                label { "Until (UTC)" input name="before" type="datetime-local" value=(search.before); }
                button class="button primary" type="submit" { "Search" }
            }
            @if let Some(error) = &error { (layout::error_fragment(error)) }
            @if found.is_empty() {
                (layout::empty("No messages match."))
            } @else {
                table class="table" {
                    thead { tr { th { "Message" } th { "Event type" } th { "Channels" } th { "Tags" } th { "Created" } } }
                    tbody {
                        @for message in &found {
                            tr {
                                td { a class="mono strong" href={ (base) "/messages/" (message.id) } { (message.id) } }
                                td { span class="chip" { (message.event_type.as_str()) } }
                                td { @for channel in &message.channels { span class="chip chip-muted" { (channel.as_str()) } } }
                                td { @for tag in &message.tags { span class="chip chip-muted" { (tag) } } }
                                td class="muted" { (layout::time(message.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    (
        if error.is_some() {
            axum::http::StatusCode::UNPROCESSABLE_ENTITY
        } else {
            axum::http::StatusCode::OK
        },
        layout::page(&session, Section::Applications, "Messages", content),
    )
        .into_response()
}

/// `GET /apps/{app_id}/messages/{msg_id}`: payload and attempts.
pub async fn show(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, msg_id)): Path<(String, String)>,
) -> Response {
    let principal = &session.principal;
    let app = match applications::get(&ctx.ops, principal, &app_id).await {
        Ok(app) => app,
        Err(error) => return layout::op_error_page(error),
    };
    let message = match messages::get(&ctx.ops, principal, app.id.as_str(), &msg_id).await {
        Ok(message) => message,
        Err(error) => return layout::op_error_page(error),
    };
    let timeline =
        match attempts_timeline(&ctx, &session, app.id.as_str(), message.id.as_str()).await {
            Ok(timeline) => timeline,
            Err(error) => return layout::op_error_page(error),
        };
    let base = format!("/apps/{}", app.id);
    let content = html! {
        (layout::crumbs(&[("Applications", Some("/".to_owned())), (&app.name, Some(base.clone())), ("Messages", Some(format!("{base}/messages"))), ("Message", None)]))
        (layout::heading(message.event_type.as_str(), Some(html! { code { (message.id) } " · " (layout::time(message.created_at)) }), None))
        div class="grid-2" {
            section class="card" {
                div class="card-header" { h2 { "Payload" } }
                @match &message.payload {
                    Some(payload) => (layout::json_block(payload)),
                    None => (layout::empty("The payload is gone (expunged or past retention).")),
                }
                dl class="facts" {
                    dt { "Event ID" } dd { (message.event_id.as_deref().unwrap_or("–")) }
                    dt { "Channels" } dd { @for c in &message.channels { span class="chip chip-muted" { (c.as_str()) } } @if message.channels.is_empty() { "–" } }
                    dt { "Tags" } dd { @for t in &message.tags { span class="chip chip-muted" { (t) } } @if message.tags.is_empty() { "–" } }
                }
            }
            section class="card" {
                div class="card-header" { h2 { "Attempts" } span class="live" { "live" } }
                (timeline)
            }
        }
    };
    layout::page(&session, Section::Applications, "Message", content).into_response()
}

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    /// How many attempts the page shows already.
    seen: usize,
}

/// `GET /apps/{app_id}/messages/{msg_id}/attempts?seen=`: the timeline alone, for polling;
/// `204` (nothing swapped, so an opened attempt stays open) while no attempt was added.
pub async fn attempts_fragment(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, msg_id)): Path<(String, String)>,
    Query(poll): Query<PollQuery>,
) -> Response {
    match read_attempts(&ctx, &session, &app_id, &msg_id).await {
        Ok(attempts) if attempts.len() == poll.seen => {
            axum::http::StatusCode::NO_CONTENT.into_response()
        }
        Ok(attempts) => timeline_markup(&app_id, &msg_id, &attempts).into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

async fn attempts_timeline(
    ctx: &WebContext,
    session: &Session,
    app_id: &str,
    msg_id: &str,
) -> OpResult<Markup> {
    let attempts = read_attempts(ctx, session, app_id, msg_id).await?;
    Ok(timeline_markup(app_id, msg_id, &attempts))
}

async fn read_attempts(
    ctx: &WebContext,
    session: &Session,
    app_id: &str,
    msg_id: &str,
) -> OpResult<Vec<Attempt>> {
    let page = attempts::list_by_message(
        &ctx.ops,
        &session.principal,
        app_id,
        msg_id,
        AttemptQuery::default(),
        first_page(),
    )
    .await?;
    Ok(page.attempts.items)
}

/// The timeline, which polls for itself and is replaced when an attempt is added.
fn timeline_markup(app_id: &str, msg_id: &str, attempts: &[Attempt]) -> Markup {
    html! {
        div hx-get={ "/apps/" (app_id) "/messages/" (msg_id) "/attempts?seen=" (attempts.len()) } hx-trigger="every 2s" hx-swap="outerHTML" {
            @if attempts.is_empty() {
                (layout::empty("No attempts yet: the first one is on its way."))
            } @else {
                ol class="timeline" {
                    @for attempt in attempts { (attempt_item(attempt)) }
                }
            }
        }
    }
}

fn attempt_item(attempt: &Attempt) -> Markup {
    let (tone, label) = match attempt.status {
        DeliveryStatus::Success => ("ok", "delivered"),
        DeliveryStatus::Fail => ("bad", "failed"),
        DeliveryStatus::Pending => ("warn", "pending"),
        DeliveryStatus::Sending => ("info", "sending"),
    };
    html! {
        li class={ "timeline-item timeline-" (tone) } data-testid="attempt" {
            div class="timeline-head" {
                (layout::badge(tone, label))
                span class="status-code" { @if attempt.response_status_code > 0 { "HTTP " (attempt.response_status_code) } @else { "no response" } }
                @if let Some(code) = &attempt.failure_code { span class="chip chip-muted" { (code.as_str()) } }
                span class="muted small" { (attempt.response_duration_ms) " ms · " (layout::time(attempt.created_at)) }
            }
            div class="muted small mono" { "POST " (attempt.url) }
            details {
                summary { "Request and response" }
                div class="detail-grid" {
                    div {
                        h4 { "Request headers" }
                        table class="table compact" { tbody { @for (name, value) in &attempt.details.request_headers { tr { td { code { (name) } } td class="mono" { (value) } } } } }
                    }
                    div {
                        h4 { "Response headers" }
                        table class="table compact" { tbody { @for (name, value) in &attempt.details.response_headers { tr { td { code { (name) } } td class="mono" { (value) } } } } }
                    }
                }
                h4 { "Response body" }
                @if attempt.response.is_empty() { p class="muted" { "(empty)" } } @else { (layout::json_block(&attempt.response)) }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_come_from_the_newest_schema() {
        let schemas = serde_json::json!({
            "1": {"examples": [{"old": true}]},
            "2": {"examples": [{"new": true}, {"other": 1}]},
        });
        assert_eq!(
            example_payload(Some(&schemas)).as_deref(),
            Some("{\n  \"new\": true\n}")
        );
        assert_eq!(
            example_payload(Some(&serde_json::json!({"1": {"examples": [3]}}))),
            None
        );
        assert_eq!(example_payload(None), None);
    }

    #[test]
    fn times() {
        assert!(parse_time("").unwrap().is_none());
        assert_eq!(
            parse_time("2026-01-02T03:04")
                .unwrap()
                .unwrap()
                .to_rfc3339(),
            "2026-01-02T03:04:00+00:00"
        );
        assert!(parse_time("yesterday").is_err());
    }
}
