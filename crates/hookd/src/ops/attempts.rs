//! Delivery attempts: listing them by message or by endpoint, and resending a message.
//!
//! Attempts are recorded by the engine; these operations only read them and queue manual
//! resends, which the dispatcher is woken to pick up at once.

use std::collections::HashMap;

use super::listing::{LIST_PAYLOAD_BUDGET, end_page_after, is_backwards};
use super::scope::{self, AppRef, ENDPOINT_NOT_FOUND};
use super::{OpError, OpResult, Ops, PAYLOAD_MISSING, Principal};
use crate::domain::{AppId, Application, Attempt, DeliveryId, Message, MessageId};
use crate::store::{AttemptFilter, Page, PageRequest};

/// The filters of an attempt listing, with the endpoint still named as in the query (an id or
/// a uid of the listed application).
#[derive(Debug, Clone, Default)]
pub struct AttemptQuery {
    /// Every filter but the endpoint; its `endpoint_id` is ignored.
    pub filter: AttemptFilter,
    pub endpoint: Option<String>,
}

/// A page of attempts and, when asked for, the messages they belong to.
#[derive(Debug)]
pub struct AttemptPage {
    pub attempts: Page<Attempt>,
    pub messages: HashMap<MessageId, Message>,
}

/// The attempts to deliver one message, newest first.
pub async fn list_by_message(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
    query: AttemptQuery,
    page: PageRequest,
) -> OpResult<AttemptPage> {
    let (app, message) = scope::message(ops, principal, AppRef::Named(app), message).await?;
    let filter = resolve_filter(ops, &app, query).await?;
    let attempts = ops
        .store
        .list_attempts(&app.id, Some(&message.id), filter, page)
        .await?;
    let messages = HashMap::from([(message.id.clone(), message)]);
    Ok(AttemptPage { attempts, messages })
}

/// The attempts made to one endpoint, newest first; with `with_messages`, the messages too
/// (their payloads bounded by `LIST_PAYLOAD_BUDGET`).
pub async fn list_by_endpoint(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    query: AttemptQuery,
    page: PageRequest,
    with_messages: bool,
) -> OpResult<AttemptPage> {
    let (app, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    let mut filter = resolve_filter(ops, &app, query).await?;
    filter.endpoint_id = Some(endpoint.id);
    let backwards = is_backwards(&page);
    let mut attempts = ops.store.list_attempts(&app.id, None, filter, page).await?;
    let messages = if with_messages {
        messages_of(ops, &app.id, &mut attempts, backwards).await?
    } else {
        HashMap::new()
    };
    Ok(AttemptPage { attempts, messages })
}

/// Queues a manual attempt of the message to the endpoint, due now, and wakes the dispatcher.
/// Runs in the span `ops.resend` (application, message and endpoint ids).
#[tracing::instrument(name = "ops.resend", skip_all, fields(app_id = tracing::field::Empty,
    msg_id = tracing::field::Empty, endpoint_id = tracing::field::Empty))]
pub async fn resend(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: &str,
    endpoint: &str,
) -> OpResult<DeliveryId> {
    let (app, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    let message = scope::message_in(ops, &app, message).await?;
    if message.payload.is_none() {
        return Err(OpError::PayloadMissing(PAYLOAD_MISSING));
    }
    if endpoint.fields.url.is_polling() {
        // Its consumer reads the message again by polling from an earlier position.
        return Err(OpError::Conflict(
            "a polling endpoint is never sent to: its consumer reads its messages".to_owned(),
        ));
    }
    let span = tracing::Span::current();
    span.record("app_id", tracing::field::display(&app.id));
    span.record("msg_id", tracing::field::display(&message.id));
    span.record("endpoint_id", tracing::field::display(&endpoint.id));
    let delivery_id = ops
        .store
        .enqueue_resend(&app.id, &message.id, &endpoint.id, ops.clock.now())
        .await?;
    tracing::info!(
        app_id = %app.id,
        msg_id = %message.id,
        endpoint_id = %endpoint.id,
        delivery_id = %delivery_id,
        "resend queued"
    );
    Ok(delivery_id)
}

/// The query's filter with its endpoint (id or uid) resolved in `app`, or `NotFound`.
pub(super) async fn resolve_filter(
    ops: &Ops,
    app: &Application,
    query: AttemptQuery,
) -> OpResult<AttemptFilter> {
    let mut filter = query.filter;
    filter.endpoint_id = match query.endpoint {
        None => None,
        Some(id_or_uid) => Some(
            ops.store
                .get_endpoint(&app.id, &id_or_uid)
                .await?
                .ok_or(OpError::NotFound(ENDPOINT_NOT_FOUND))?
                .id,
        ),
    };
    Ok(filter)
}

/// The messages of a page of attempts, each read once. Their payloads add up to at most
/// `LIST_PAYLOAD_BUDGET`: a forward page ends early at the attempt whose message passes it (at
/// least one attempt is always kept); a backward page keeps its attempts and shows no more
/// messages past the budget.
async fn messages_of(
    ops: &Ops,
    app_id: &AppId,
    attempts: &mut Page<Attempt>,
    backwards: bool,
) -> OpResult<HashMap<MessageId, Message>> {
    let mut messages = HashMap::new();
    let mut payload_bytes = 0usize;
    let mut end_before = None;
    for (index, attempt) in attempts.items.iter().enumerate() {
        if messages.contains_key(&attempt.msg_id) {
            continue;
        }
        if payload_bytes >= LIST_PAYLOAD_BUDGET {
            end_before = Some(index);
            break;
        }
        if let Some(message) = ops
            .store
            .get_message(app_id, attempt.msg_id.as_str())
            .await?
        {
            payload_bytes += message.payload.as_ref().map_or(0, String::len);
            messages.insert(message.id.clone(), message);
        }
    }
    if let Some(index) = end_before.filter(|_| !backwards) {
        end_page_after(attempts, index, |attempt| attempt.id.to_string());
    }
    Ok(messages)
}
