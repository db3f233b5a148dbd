//! Messages: accepting one (the write path that matters) and reading them back.
//!
//! Accepting commits the message with one delivery per matching endpoint before it returns,
//! and only then wakes the dispatcher. An application named by the path that does not exist is
//! created inline when the message carries its fields (admin only). An event type's example
//! is sent as a message that only the endpoint it was sent to receives (`send_example`).
//! Both judge the payload against the event type's enforced schema, if it has one
//! (`payload_validation`), before writing anything.

use super::applications::create_for_path;
use super::listing::{LIST_PAYLOAD_BUDGET, end_page_after, is_backwards};
use super::payload_validation::{check_payload, check_payload_of};
use super::scope::{self, APP_NOT_FOUND, AppRef};
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::{
    AppId, ApplicationFields, ChannelName, EventTypeName, ExampleError, Message, MessageId,
    MessagePayload, Recipients, Timestamp, schema_example,
};
use crate::store::{MessageFilter, MessageInsert, NewMessage, Page, PageRequest};

/// A message to accept, parsed.
#[derive(Debug)]
pub struct AcceptMessage {
    pub event_type: EventTypeName,
    pub payload: MessagePayload,
    pub event_id: Option<String>,
    pub channels: Vec<ChannelName>,
    pub tags: Vec<String>,
    /// Delivery is due from then on; at most the payload retention period ahead.
    pub deliver_at: Option<Timestamp>,
    /// The application to create when the path names one that does not exist.
    pub application: Option<ApplicationFields>,
}

/// Commits the message and its deliveries, creating the application inline if asked to.
/// `Conflict` when the application already has a message with this `eventId`. Runs in the
/// span `ops.create_message` (the application's id, and the message's once it has one).
#[tracing::instrument(name = "ops.create_message", skip_all,
    fields(app_id = tracing::field::Empty, msg_id = tracing::field::Empty))]
pub async fn accept(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    message: AcceptMessage,
) -> OpResult<Message> {
    let now = ops.clock.now();
    check_deliver_at(message.deliver_at, now, ops.payload_retention)?;
    let found = scope::lookup_application(ops, principal, AppRef::Named(app)).await?;
    if found.is_none() {
        if message.application.is_none() {
            return Err(OpError::NotFound(APP_NOT_FOUND));
        }
        principal.require_admin()?;
    }
    // Judged before anything is written, so a refused message creates no application either.
    check_payload(ops, &message.event_type, &message.payload).await?;
    let app = match (found, message.application) {
        (Some(app), _) => app,
        (None, Some(fields)) => create_for_path(ops, app, fields).await?,
        (None, None) => return Err(OpError::NotFound(APP_NOT_FOUND)),
    };
    let new_message = NewMessage {
        id: MessageId::generate(now, rand::random()),
        app_id: app.id.clone(),
        event_type: message.event_type,
        event_id: message.event_id,
        payload: message.payload,
        channels: message.channels,
        tags: message.tags,
        deliver_at: message.deliver_at,
        recipients: Recipients::Matching,
        now,
    };
    commit(ops, new_message).await
}

/// Commits a message and its deliveries to its recipients, and tells open streams of it.
/// Records the message's id in the caller's span.
async fn commit(ops: &Ops, new_message: NewMessage) -> OpResult<Message> {
    let app_id = new_message.app_id.clone();
    let span = tracing::Span::current();
    span.record("app_id", tracing::field::display(&app_id));
    span.record("msg_id", tracing::field::display(&new_message.id));
    match ops.store.create_message(new_message).await? {
        MessageInsert::Created {
            message,
            deliveries,
        } => {
            tracing::info!(app_id = %app_id, msg_id = %message.id, deliveries, "message accepted");
            ops.instruments.messages_accepted_api.increment(1);
            ops.message_feed.announce(&app_id);
            Ok(message)
        }
        MessageInsert::Duplicate(existing) => {
            // The message is the one already there; the span names it instead of the new id.
            span.record("msg_id", tracing::field::display(&existing.id));
            tracing::info!(app_id = %app_id, msg_id = %existing.id, "duplicate eventId refused");
            Err(OpError::Conflict(
                "message with this eventId already exists".to_owned(),
            ))
        }
    }
}

/// An example to send to one endpoint (Svix `EventExampleIn`), parsed.
#[derive(Debug)]
pub struct SendExample {
    pub event_type: EventTypeName,
    /// Which of the schema's examples; the first when `None`.
    pub example_index: Option<usize>,
    /// Sent instead of the schema's example when given.
    pub payload: Option<MessagePayload>,
}

/// Sends an event type's example (or the given payload) as a new message of the application
/// that only `endpoint` receives, whatever its event-type and channel filters, due now. The
/// event type must exist (a missing one is an invalid `eventType`, not a missing target);
/// without a `payload`, its newest schema must have an example that is
/// a JSON object. A disabled endpoint is refused with `Conflict` (it would receive nothing).
/// Runs in the span `ops.send_example`.
#[tracing::instrument(name = "ops.send_example", skip_all,
    fields(app_id = tracing::field::Empty, msg_id = tracing::field::Empty))]
pub async fn send_example(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    endpoint: &str,
    example: SendExample,
) -> OpResult<Message> {
    let (app, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), endpoint).await?;
    let event_type = ops
        .store
        .get_event_type(&example.event_type)
        .await?
        .ok_or_else(|| {
            OpError::invalid_body(
                &["eventType"],
                format!("there is no event type {}", example.event_type.as_str()),
            )
        })?;
    let payload = match example.payload {
        Some(payload) => payload,
        None => example_payload(event_type.fields.schemas.as_ref(), example.example_index)?,
    };
    check_payload_of(ops, &event_type, &payload)?;
    if endpoint.fields.disabled {
        return Err(OpError::Conflict(
            "the endpoint is disabled: enable it to send it an example".to_owned(),
        ));
    }
    let new_message = NewMessage {
        id: MessageId::generate(ops.clock.now(), rand::random()),
        app_id: app.id,
        event_type: event_type.name,
        event_id: None,
        payload,
        channels: Vec::new(),
        tags: Vec::new(),
        deliver_at: None,
        recipients: Recipients::OnlyEndpoint(endpoint.id),
        now: ops.clock.now(),
    };
    commit(ops, new_message).await
}

/// The schema's example as a message payload, or a refusal located at the field to change.
fn example_payload(
    schemas: Option<&serde_json::Value>,
    index: Option<usize>,
) -> OpResult<MessagePayload> {
    let example = schema_example(schemas, index).map_err(|error| {
        let field = match error {
            ExampleError::NoExamples => "eventType",
            ExampleError::IndexOutOfRange { .. } | ExampleError::NotAnObject { .. } => {
                "exampleIndex"
            }
        };
        OpError::invalid_body(&[field], error.to_string())
    })?;
    MessagePayload::parse(&example.to_string())
        .map_err(|error| OpError::invalid_body(&["exampleIndex"], error.to_string()))
}

/// Whether any endpoint of the application would be sent a message of this event type on these
/// channels now: an enabled endpoint that fan-out's own rule (`FanoutTarget::accepts_kind`)
/// accepts it for. Nothing is written. A precheck has no payload, so an endpoint with a content
/// filter counts as one that may receive it.
pub async fn precheck(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    event_type: &EventTypeName,
    channels: &[ChannelName],
) -> OpResult<bool> {
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    let targets = ops.store.list_fanout_targets(&app.id).await?;
    Ok(targets
        .iter()
        .any(|target| target.accepts_kind(event_type, channels)))
}

/// The message named by `message` (id or eventId).
pub async fn get(ops: &Ops, principal: &Principal, app: &str, message: &str) -> OpResult<Message> {
    Ok(scope::message(ops, principal, AppRef::Named(app), message)
        .await?
        .1)
}

/// A page of an application's messages whose payloads add up to at most `LIST_PAYLOAD_BUDGET`
/// (one message is always shown, so a page always makes progress). Without content, payloads
/// are dropped as soon as they are read.
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    filter: MessageFilter,
    page: PageRequest,
    with_content: bool,
) -> OpResult<Page<Message>> {
    let app = scope::application(ops, principal, AppRef::Named(app)).await?;
    list_within_budget(ops, &app.id, filter, page, with_content).await
}

/// Messages read from the store at a time while a listing page is filled, so that the payloads
/// held at once stay bounded (at most this many payloads of `--max-body-bytes` each).
const LIST_CHUNK: usize = 16;

/// Forward pages are read in chunks and end early past the budget; a backward page is read as
/// one chunk of at most `LIST_CHUNK`, with the store's own iterators.
async fn list_within_budget(
    ops: &Ops,
    app_id: &AppId,
    filter: MessageFilter,
    page: PageRequest,
    with_content: bool,
) -> OpResult<Page<Message>> {
    let drop_payloads = |page: &mut Page<Message>| {
        if !with_content {
            for message in &mut page.items {
                message.payload = None;
            }
        }
    };
    if is_backwards(&page) {
        let limit = page.limit.min(LIST_CHUNK);
        let mut chunk = ops
            .store
            .list_messages(app_id, filter, PageRequest { limit, ..page })
            .await?;
        drop_payloads(&mut chunk);
        return Ok(chunk);
    }
    let mut collected = Page {
        items: Vec::new(),
        iterator: page.iterator.clone(),
        prev_iterator: None,
        done: false,
    };
    let mut payload_bytes = 0usize;
    while !collected.done && collected.items.len() < page.limit {
        let want = (page.limit - collected.items.len()).min(LIST_CHUNK);
        let mut chunk = ops
            .store
            .list_messages(
                app_id,
                filter.clone(),
                PageRequest {
                    limit: want,
                    iterator: collected.iterator.clone(),
                    order: page.order,
                },
            )
            .await?;
        drop_payloads(&mut chunk);
        let over_budget_at = chunk.items.iter().position(|message| {
            payload_bytes += message.payload.as_ref().map_or(0, String::len);
            payload_bytes >= LIST_PAYLOAD_BUDGET
        });
        if collected.prev_iterator.is_none() {
            collected.prev_iterator = chunk.prev_iterator.clone();
        }
        if let Some(last_kept) = over_budget_at {
            end_page_after(&mut chunk, last_kept + 1, |message| message.id.to_string());
            // Past the budget the page ends here, whatever the count.
            collected.items.append(&mut chunk.items);
            collected.iterator = chunk.iterator.or(collected.iterator);
            collected.done = chunk.done;
            break;
        }
        collected.items.append(&mut chunk.items);
        collected.iterator = chunk.iterator.or(collected.iterator);
        collected.done = chunk.done;
    }
    Ok(collected)
}

/// `deliverAt` may be in the past (the message is due at once), but not later than the
/// payload retention period from now: the payload would be purged before it is sent.
fn check_deliver_at(
    deliver_at: Option<Timestamp>,
    now: Timestamp,
    payload_retention: std::time::Duration,
) -> OpResult<()> {
    let Some(deliver_at) = deliver_at else {
        return Ok(());
    };
    let horizon = chrono::Duration::from_std(payload_retention)
        .ok()
        .and_then(|retention| now.checked_add_signed(retention));
    if horizon.is_some_and(|horizon| deliver_at > horizon) {
        return Err(OpError::invalid_body(
            &["deliverAt"],
            format!(
                "deliverAt may be at most {} ahead (the payload retention period), so the \
                 payload still exists when it is sent",
                crate::policy::retry::format_delay(payload_retention)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;

    use super::*;
    use crate::ops::{InputPlace, InvalidField};

    /// `check_deliver_at` at a fixed `now`: `deliver_at` is `now` moved by `offset` (`None`: no
    /// `deliverAt`), and `refused` is the message of the refusal, if it is one.
    fn check(
        what: &str,
        offset: Option<chrono::Duration>,
        retention: Duration,
        refused: Option<&str>,
    ) {
        let now = chrono::Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let outcome = check_deliver_at(offset.map(|offset| now + offset), now, retention);
        let expected = refused.map(|message| InvalidField {
            place: InputPlace::Body,
            path: vec!["deliverAt".to_owned()],
            message: message.to_owned(),
        });
        match (outcome, expected) {
            (Ok(()), None) => {}
            (Err(OpError::Invalid(field)), Some(expected)) => assert_eq!(field, expected, "{what}"),
            (outcome, expected) => panic!("{what}: got {outcome:?}, expected {expected:?}"),
        }
    }

    #[test]
    fn deliver_at_is_refused_only_beyond_the_payload_retention() {
        let day = Duration::from_secs(86_400);
        let thirty_days = day * 30;
        let refused_30_days = "deliverAt may be at most 30d ahead (the payload retention period), \
                               so the payload still exists when it is sent";
        let refused_1500_ms = "deliverAt may be at most 1500ms ahead (the payload retention \
                               period), so the payload still exists when it is sent";
        let micros = chrono::Duration::microseconds;
        let days = chrono::Duration::days;
        #[rustfmt::skip]
        let cases = [
            ("no deliverAt", None, thirty_days, None),
            ("a year in the past: due at once", Some(-days(365)), thirty_days, None),
            ("now", Some(chrono::Duration::zero()), thirty_days, None),
            ("an hour ahead", Some(chrono::Duration::hours(1)), thirty_days, None),
            ("exactly at the retention horizon", Some(days(30)), thirty_days, None),
            ("a microsecond past the horizon", Some(days(30) + micros(1)), thirty_days, Some(refused_30_days)),
            ("a year ahead", Some(days(365)), thirty_days, Some(refused_30_days)),
            ("5 s ahead of a 1500 ms retention", Some(chrono::Duration::seconds(5)), Duration::from_millis(1500), Some(refused_1500_ms)),
            ("1500 ms ahead of a 1500 ms retention", Some(chrono::Duration::milliseconds(1500)), Duration::from_millis(1500), None),
            ("a retention too long to add to now has no horizon", Some(days(365 * 1000)), Duration::MAX, None),
        ];
        for (what, offset, retention, refused) in cases {
            check(what, offset, retention, refused);
        }
    }
}
