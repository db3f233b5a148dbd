//! Polling endpoints: a consumer that cannot expose a URL reads its endpoint's messages with a
//! cursor (Svix's `message.poller`). A polling endpoint is an endpoint whose URL is `polling:`;
//! fan-out never gives it a delivery (`FanoutTarget::accepts`), so the dispatcher never sends
//! to it, and its messages are its application's stream (`store::streams`, commit order)
//! filtered by the endpoint's event types and channels and by the poll's own filters, from the
//! endpoint's creation on. Payloads that were expunged or purged are not served, nor are
//! opaque ones (an inbound body that is not a JSON object: Svix's answer has a JSON object).
//!
//! A page is read in chunks of the stream, at most `SCAN_CHUNKS` of them, so a sparse
//! endpoint costs each poll a bounded scan; the iterator handed back is the position of the
//! last message *scanned*, so the next poll goes on from there. `done` says that nothing more
//! is committed (and readable) past it right now.
//!
//! A named consumer (`consumer_poll`) has its position kept by the store. It advances only
//! when the consumer presents the iterator of the page it was given, which says it has handled
//! that page: a call without an iterator answers from the committed position again (a client
//! that lost an answer gets the same page, at least once), and an iterator behind the
//! committed position (another client of the same consumer went further) is refused as a
//! conflict. `consumer_seek` moves the position to a time, backwards or forwards.

use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::polling::{ConsumerId, PollIterator, PollLimit};
use crate::domain::{
    Application, ChannelName, Endpoint, EventTypeName, Message, PayloadDocument, Timestamp,
};
use crate::store::{ConsumerSave, StreamPosition};

/// Messages of the stream read at a time while a page is filled.
const SCAN_CHUNK: usize = 250;

/// Chunks one poll reads at most before it answers with what it found.
const SCAN_CHUNKS: usize = 8;

/// What a sink that is not a polling endpoint answers.
pub const NOT_A_POLLING_ENDPOINT: &str = "polling endpoint not found";

/// The filters a poll (not a consumer's) may add to its endpoint's.
#[derive(Debug, Clone, Default)]
pub struct PollFilter {
    pub event_type: Option<EventTypeName>,
    pub channel: Option<ChannelName>,
    /// Only messages created after this time; without an iterator, the poll starts there.
    pub after: Option<Timestamp>,
}

/// One page of a polling endpoint.
#[derive(Debug, Clone)]
pub struct PollPage {
    pub messages: Vec<Message>,
    /// Where the next poll goes on.
    pub iterator: PollIterator,
    /// Nothing more is readable past `iterator` now.
    pub done: bool,
}

/// A page of the polling endpoint `sink` after `iterator` (or from its beginning, or from
/// `filter.after`).
pub async fn poll(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    sink: &str,
    iterator: Option<PollIterator>,
    filter: PollFilter,
    limit: PollLimit,
) -> OpResult<PollPage> {
    let (app, endpoint) = polling_endpoint(ops, principal, app, sink).await?;
    let start = match (iterator, filter.after) {
        (Some(iterator), _) => position(iterator),
        (None, Some(after)) => ops.store.stream_position_at(&app.id, after).await?,
        (None, None) => position(PollIterator::beginning()),
    };
    read_page(ops, &app, &endpoint, start, &filter, limit).await
}

/// A page for the named consumer: after `iterator`, which is committed as its position first,
/// or after the position it committed last (from the endpoint's beginning for a new one).
pub async fn consumer_poll(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    sink: &str,
    consumer: &ConsumerId,
    iterator: Option<PollIterator>,
    limit: PollLimit,
) -> OpResult<PollPage> {
    let (app, endpoint) = polling_endpoint(ops, principal, app, sink).await?;
    let start = match iterator {
        Some(iterator) => {
            let handled = position(iterator);
            commit(ops, &endpoint, consumer, &handled, false).await?;
            handled
        }
        None => ops
            .store
            .poller_consumer_position(&endpoint.id, consumer.as_str())
            .await?
            .unwrap_or_else(|| position(PollIterator::beginning())),
    };
    read_page(ops, &app, &endpoint, start, &PollFilter::default(), limit).await
}

/// Moves the consumer's position to just before the first message created after `after`, and
/// returns it as an iterator.
pub async fn consumer_seek(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    sink: &str,
    consumer: &ConsumerId,
    after: Timestamp,
) -> OpResult<PollIterator> {
    let (app, endpoint) = polling_endpoint(ops, principal, app, sink).await?;
    let start = ops.store.stream_position_at(&app.id, after).await?;
    commit(ops, &endpoint, consumer, &start, true).await?;
    Ok(iterator(start))
}

/// The application and its endpoint `sink`, which must be a polling endpoint.
async fn polling_endpoint(
    ops: &Ops,
    principal: &Principal,
    app: &str,
    sink: &str,
) -> OpResult<(Application, Endpoint)> {
    let (app, endpoint) = scope::endpoint(ops, principal, AppRef::Named(app), sink).await?;
    if !endpoint.fields.url.is_polling() {
        return Err(OpError::NotFound(NOT_A_POLLING_ENDPOINT));
    }
    Ok((app, endpoint))
}

async fn commit(
    ops: &Ops,
    endpoint: &Endpoint,
    consumer: &ConsumerId,
    position: &StreamPosition,
    rewind: bool,
) -> OpResult<()> {
    let now = ops.clock.now();
    let saved = ops
        .store
        .save_poller_consumer_position(&endpoint.id, consumer.as_str(), position, rewind, now)
        .await?;
    match saved {
        ConsumerSave::Saved => Ok(()),
        ConsumerSave::Behind(_) => Err(OpError::Conflict(
            "iterator is behind this consumer's committed position: poll without an iterator \
             to go on from there"
                .to_owned(),
        )),
    }
}

/// Fills a page from `start`: the endpoint's messages in commit order, a bounded scan.
async fn read_page(
    ops: &Ops,
    app: &Application,
    endpoint: &Endpoint,
    start: StreamPosition,
    filter: &PollFilter,
    limit: PollLimit,
) -> OpResult<PollPage> {
    let mut cursor = start;
    let mut messages = Vec::new();
    for _ in 0..SCAN_CHUNKS {
        let read = ops.store.read_stream(&app.id, &cursor, SCAN_CHUNK).await?;
        let scanned = read.messages.len();
        for (position, message) in read.messages {
            cursor = position;
            if wanted(endpoint, filter, &message) {
                messages.push(message);
                if messages.len() == limit.get() {
                    return Ok(page(messages, cursor, false));
                }
            }
        }
        if scanned < SCAN_CHUNK {
            return Ok(page(messages, cursor, !read.held_back));
        }
    }
    Ok(page(messages, cursor, false))
}

/// Whether a message of the stream is one this poll serves.
fn wanted(endpoint: &Endpoint, filter: &PollFilter, message: &Message) -> bool {
    endpoint.fields.matches_filters(
        &message.event_type,
        &message.channels,
        &PayloadDocument::stored(message.payload.as_deref(), message.content_type.as_deref()),
    ) && message.created_at >= endpoint.created_at
        && message.payload.is_some()
        && message.content_type.is_none()
        && filter
            .event_type
            .as_ref()
            .is_none_or(|wanted| *wanted == message.event_type)
        && filter
            .channel
            .as_ref()
            .is_none_or(|wanted| message.channels.contains(wanted))
        && filter.after.is_none_or(|after| message.created_at > after)
}

fn page(messages: Vec<Message>, cursor: StreamPosition, done: bool) -> PollPage {
    PollPage {
        messages,
        iterator: iterator(cursor),
        done,
    }
}

fn position(iterator: PollIterator) -> StreamPosition {
    StreamPosition {
        commit: iterator.commit,
        message_id: iterator.message_id,
    }
}

fn iterator(position: StreamPosition) -> PollIterator {
    PollIterator {
        commit: position.commit,
        message_id: position.message_id,
    }
}
