//! `GET /api/v1/app/{app_id}/stream` and `GET /ingest/api/v1/source/{source_id}/stream`: an
//! application's (or an inbound source's) messages as Server-Sent Events, for `hookd listen`.
//!
//! Each event is one message: `id:` the message id (what a client sends back as
//! `Last-Event-ID` to resume), `event: message`, and `data:` one JSON object with the id, the
//! event type, the timestamp, the content type and the payload's exact text as a JSON string
//! (so line breaks in it cannot end the event). Resuming (`Last-Event-ID`, or `?after=`)
//! replays every later message from the store first; without either, the stream starts with
//! the next message committed. The body is pulled: a message is read from the store only when
//! the client has taken the previous ones, so a slow client costs one chunk of messages and no
//! growing buffer. Admin token only; errors before the stream starts are the usual JSON ones.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::SecondsFormat;
use futures::Stream;
use serde_json::json;

use super::API_PREFIX;
use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::params::{ApiPath, ApiQuery, optional};
use super::scoped_routes::{Scope::Admin, ScopedRoutes, get};
use crate::domain::Message;
use crate::ops::stream::{self, MessageStream, StreamStart};
use crate::ops::{AppRef, Principal};
use crate::telemetry::ErrorChain;

/// How often an idle stream sends a comment, so that proxies and the client see it alive.
pub const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(15);

/// The stream of an application's messages; mounted under `/api/v1` with the other routes.
pub fn app_routes() -> ScopedRoutes {
    ScopedRoutes::new(API_PREFIX).route("/app/{app_id}/stream", get(Admin, app_stream))
}

/// The stream of an inbound source's messages (those its ingest endpoints receive); admin
/// only like the source's other management routes.
pub fn source_routes() -> ScopedRoutes {
    ScopedRoutes::new("").route(
        "/ingest/api/v1/source/{source_id}/stream",
        get(Admin, source_stream),
    )
}

async fn app_stream(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let start = stream_start(&headers, &query)?;
    let opened = stream::open(&ctx.ops, &principal, AppRef::Named(&app_id), start).await?;
    Ok(sse(opened))
}

async fn source_stream(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(source_id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let start = stream_start(&headers, &query)?;
    let opened = stream::open(&ctx.ops, &principal, AppRef::Source(&source_id), start).await?;
    Ok(sse(opened))
}

/// `?after=`: the message (id) to resume after.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamQuery {
    #[serde(default, deserialize_with = "optional")]
    after: Option<String>,
}

/// `Last-Event-ID` wins over `?after=`: a browser's EventSource sends the header on its own
/// reconnects, with a newer position than the URL it was opened with.
pub(super) fn stream_start<'a>(
    headers: &'a HeaderMap,
    query: &'a StreamQuery,
) -> ApiResult<StreamStart<'a>> {
    let from_header =
        match headers.get("last-event-id") {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                ApiError::BadRequest("Last-Event-ID must be a message id".to_owned())
            })?),
        };
    Ok(match from_header.or(query.after.as_deref()) {
        Some(after) if !after.is_empty() => StreamStart::After(after),
        _ => StreamStart::Now,
    })
}

fn sse(opened: MessageStream) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let events = futures::stream::unfold(opened, |mut opened| async move {
        match opened.next().await {
            Ok(Some(message)) => Some((Ok(message_event(&message)), opened)),
            Ok(None) => None,
            Err(error) => {
                // The client reconnects with its last id and loses nothing.
                tracing::warn!(error = %ErrorChain(&error), "message stream ended: reading the store failed");
                None
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE_EVERY))
}

/// One message as an event. A payload that was purged or expunged is `null`.
fn message_event(message: &Message) -> Event {
    let data = json!({
        "id": message.id.as_str(),
        "eventType": message.event_type.as_str(),
        "timestamp": message.created_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        "contentType": message.content_type.as_deref().unwrap_or("application/json"),
        "payload": message.payload,
    });
    Event::default()
        .id(message.id.as_str())
        .event("message")
        .data(data.to_string())
}
