//! The delivery log: where a message went, one attempt, removing a message's content, the
//! dead-letter view and endpoint statistics (message states, attempt counts and samples).
//!
//! Reads only, but for expunging, which removes the payload and keeps every other record.

use super::listing::{LIST_PAYLOAD_BUDGET, end_page_after, is_backwards};
use super::scope::{self, AppRef, ENDPOINT_NOT_FOUND, MESSAGE_NOT_FOUND};
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::{Attempt, Endpoint, EndpointId, HourWindow, Message, Timestamp};
use crate::store::endpoint_logs::{AttemptCounts, EndpointMessage, EndpointMessageFilter};
use crate::store::logs::{
    AttemptSample, DeadLetter, DeadLetterFilter, DeadLetterGroup, DeliveryCounts, Destination,
};
use crate::store::{Page, PageRequest};

/// Removes the message's payload. Deliveries still pending then fail without sending.
pub async fn expunge_content(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
) -> OpResult<()> {
    let (app, message) = scope::message(ops, principal, AppRef::Named(app), message).await?;
    if !ops
        .store
        .expunge_message_content(&app.id, &message.id)
        .await?
    {
        return Err(OpError::NotFound(MESSAGE_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, msg_id = %message.id, "message content expunged");
    Ok(())
}

/// The endpoints a message was sent to, each with the state of its latest delivery.
pub async fn list_destinations(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
    page: PageRequest,
) -> OpResult<Page<(Destination, Endpoint)>> {
    let (app, message) = scope::message(ops, principal, AppRef::Named(app), message).await?;
    let destinations = ops
        .store
        .list_message_destinations(&app.id, &message.id, page)
        .await?;
    let mut items = Vec::with_capacity(destinations.items.len());
    for destination in destinations.items {
        // Deleting an endpoint deletes its deliveries, so a miss is only a concurrent delete.
        if let Some(endpoint) = ops
            .store
            .get_endpoint(&app.id, destination.endpoint_id.as_str())
            .await?
        {
            items.push((destination, endpoint));
        }
    }
    Ok(Page {
        items,
        iterator: destinations.iterator,
        prev_iterator: destinations.prev_iterator,
        done: destinations.done,
    })
}

/// One attempt of the message, and the message.
pub async fn get_attempt(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
    attempt: &str,
) -> OpResult<(Attempt, Message)> {
    let (app, message) = scope::message(ops, principal, AppRef::Named(app), message).await?;
    let attempt = ops
        .store
        .get_attempt(&app.id, attempt)
        .await?
        .filter(|attempt| attempt.msg_id == message.id)
        .ok_or(OpError::NotFound("attempt not found"))?;
    Ok((attempt, message))
}

/// The dead letters of an application, newest first; `endpoint` (id or uid) narrows them to
/// one endpoint (its `filter.endpoint_id` is ignored).
pub async fn list_dead_letters(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: Option<&str>,
    mut filter: DeadLetterFilter,
    page: PageRequest,
) -> OpResult<Page<DeadLetter>> {
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    filter.endpoint_id = match endpoint {
        None => None,
        Some(id_or_uid) => Some(
            ops.store
                .get_endpoint(&app.id, id_or_uid)
                .await?
                .ok_or(OpError::NotFound(ENDPOINT_NOT_FOUND))?
                .id,
        ),
    };
    Ok(ops.store.list_dead_letters(&app.id, filter, page).await?)
}

/// The dead letters of an application counted per endpoint, event type and kind.
pub async fn count_dead_letters(
    ops: &Ops,
    principal: &Principal,
    app: &str,
) -> OpResult<Vec<DeadLetterGroup>> {
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    Ok(ops.store.count_dead_letters(&app.id).await?)
}

/// The endpoint's message/endpoint pairs per state, for messages created in `[since, until)`.
pub async fn endpoint_counts(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    since: Option<Timestamp>,
    until: Option<Timestamp>,
) -> OpResult<DeliveryCounts> {
    let (_, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    Ok(ops
        .store
        .count_endpoint_deliveries(&endpoint.id, since, until)
        .await?)
}

/// The endpoint's attempts made in `window` (whole hours), by outcome.
pub async fn endpoint_attempt_counts(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    window: HourWindow,
) -> OpResult<AttemptCounts> {
    let (_, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    Ok(ops
        .store
        .count_endpoint_attempts(&endpoint.id, window)
        .await?)
}

/// The messages the endpoint was sent, each with the state of its latest delivery there. With
/// content, a forward page ends early once its payloads reach `LIST_PAYLOAD_BUDGET` (one
/// message is always shown); without, payloads are dropped as soon as they are read.
pub async fn list_endpoint_messages(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    filter: EndpointMessageFilter,
    page: PageRequest,
    with_content: bool,
) -> OpResult<Page<EndpointMessage>> {
    let (app, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    let backwards = is_backwards(&page);
    let mut listed = ops
        .store
        .list_endpoint_messages(&app.id, &endpoint.id, filter, page)
        .await?;
    if !with_content {
        for item in &mut listed.items {
            item.message.payload = None;
        }
        return Ok(listed);
    }
    let mut payload_bytes = 0usize;
    let over_budget_at = listed.items.iter().position(|item| {
        payload_bytes += item.message.payload.as_ref().map_or(0, String::len);
        payload_bytes >= LIST_PAYLOAD_BUDGET
    });
    if let Some(last_kept) = over_budget_at.filter(|_| !backwards) {
        end_page_after(&mut listed, last_kept + 1, |item| {
            item.message.id.to_string()
        });
    }
    Ok(listed)
}

/// The endpoint's attempts over the last `span` (up to now), oldest first, with the window's
/// bounds.
pub async fn endpoint_samples(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    span: chrono::Duration,
) -> OpResult<EndpointSamples> {
    let (_, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    let end = ops.clock.now();
    let start = end - span;
    let samples = ops
        .store
        .sample_endpoint_attempts(&endpoint.id, start)
        .await?;
    Ok(EndpointSamples {
        endpoint_id: endpoint.id,
        start,
        end,
        samples,
    })
}

/// What `endpoint_samples` read.
#[derive(Debug)]
pub struct EndpointSamples {
    pub endpoint_id: EndpointId,
    pub start: Timestamp,
    pub end: Timestamp,
    pub samples: Vec<AttemptSample>,
}
