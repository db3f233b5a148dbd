//! Streams of one application's messages, oldest first, for `hookd listen`: a replay from the
//! store of every message after a cursor, then each new one as it is committed.
//!
//! The store is the only source of what a stream sends. `MessageFeed` carries no messages,
//! only the id of an application that has a new one, so a stream that falls behind holds at
//! most one chunk of messages (`STREAM_CHUNK`) and the feed's bounded channel; when it lags
//! past the channel's capacity it simply reads the store again from its cursor. Nothing here
//! knows SSE or HTTP.
//!
//! A known gap: the cursor is a message id, and ids are made (time-ordered) before the write
//! commits, so two messages accepted at the same moment may commit in the other order; a
//! stream already past the later id then never sends the earlier one. `hookd listen` is for
//! development, where that race is rare; closing it needs a commit-ordered sequence in the
//! store.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::scope::{self, AppRef};
use super::{OpResult, Ops, Principal};
use crate::domain::{AppId, Message, MessageId};
use crate::store::{MessageFilter, Order, PageRequest};

/// Messages read from the store at a time by one stream.
pub const STREAM_CHUNK: usize = 16;

/// How many announcements a stream may be behind before it lags and rereads the store.
const FEED_CAPACITY: usize = 256;

/// How often an idle stream reads the store even without an announcement: messages committed
/// by another node (PostgreSQL) are announced only on the node that accepted them.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Announces, on this node, that an application has a new message. Cheap to clone: clones
/// share one channel.
#[derive(Debug, Clone)]
pub struct MessageFeed {
    sender: broadcast::Sender<AppId>,
    /// Cancelled when the server shuts down: open streams end, so that their connections
    /// can close instead of holding the shutdown until its deadline.
    closing: CancellationToken,
}

impl Default for MessageFeed {
    /// A feed whose streams end only when their clients leave.
    fn default() -> Self {
        MessageFeed::until(CancellationToken::new())
    }
}

impl MessageFeed {
    /// A feed whose streams end when `closing` is cancelled.
    pub fn until(closing: CancellationToken) -> Self {
        MessageFeed {
            sender: broadcast::channel(FEED_CAPACITY).0,
            closing,
        }
    }

    /// Called after a message of `app_id` is committed. Nobody listening is not an error.
    pub fn announce(&self, app_id: &AppId) {
        // Called for every accepted message: with no stream open (the usual case) it costs a
        // counter read, not an id copy.
        if self.sender.receiver_count() > 0 {
            let _all_left_meanwhile = self.sender.send(app_id.clone());
        }
    }
}

/// Where a stream starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart<'a> {
    /// After this message (its id or eventId); every later one is replayed first.
    After(&'a str),
    /// With the first message committed after the stream opens.
    Now,
}

/// One open stream: `next` returns the application's messages in order, waiting for new ones.
pub struct MessageStream {
    ops: Ops,
    app_id: AppId,
    cursor: Option<MessageId>,
    announcements: broadcast::Receiver<AppId>,
    pending: VecDeque<Message>,
}

/// Opens a stream of the messages of `app` (an application, or an inbound source's internal
/// one). Admin only. `NotFound` when `StreamStart::After` names no message of the application.
pub async fn open(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    start: StreamStart<'_>,
) -> OpResult<MessageStream> {
    principal.require_admin()?;
    let app = scope::application(ops, principal, app).await?;
    // Subscribed before the cursor is read, so a message committed in between is announced.
    let announcements = ops.message_feed.sender.subscribe();
    let cursor = match start {
        StreamStart::After(message) => Some(scope::message_in(ops, &app, message).await?.id),
        StreamStart::Now => newest_message(ops, &app.id).await?,
    };
    Ok(MessageStream {
        ops: ops.clone(),
        app_id: app.id,
        cursor,
        announcements,
        pending: VecDeque::new(),
    })
}

impl MessageStream {
    /// The next message after the cursor, waiting until there is one; `None` when the server
    /// is shutting down.
    pub async fn next(&mut self) -> OpResult<Option<Message>> {
        loop {
            if self.ops.message_feed.closing.is_cancelled() {
                return Ok(None);
            }
            if let Some(message) = self.pending.pop_front() {
                self.cursor = Some(message.id.clone());
                return Ok(Some(message));
            }
            let page = self
                .ops
                .store
                .list_messages(
                    &self.app_id,
                    MessageFilter::default(),
                    PageRequest {
                        limit: STREAM_CHUNK,
                        iterator: self.cursor.as_ref().map(ToString::to_string),
                        order: Order::Ascending,
                    },
                )
                .await?;
            if page.items.is_empty() {
                self.wait_for_announcement().await;
            } else {
                self.pending.extend(page.items);
            }
        }
    }

    /// Returns when this application may have a new message: it was announced, the feed
    /// lagged (anything may have been missed), or `RECHECK_EVERY` passed.
    async fn wait_for_announcement(&mut self) {
        let announced = async {
            loop {
                match self.announcements.recv().await {
                    Ok(app_id) if app_id == self.app_id => return,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return,
                    Err(RecvError::Closed) => std::future::pending::<()>().await,
                }
            }
        };
        let closing = self.ops.message_feed.closing.clone();
        tokio::select! {
            () = announced => {}
            () = closing.cancelled() => {}
            () = tokio::time::sleep(RECHECK_EVERY) => {}
        }
    }
}

async fn newest_message(ops: &Ops, app_id: &AppId) -> OpResult<Option<MessageId>> {
    let newest = ops
        .store
        .list_messages(
            app_id,
            MessageFilter::default(),
            PageRequest {
                limit: 1,
                iterator: None,
                order: Order::Descending,
            },
        )
        .await?;
    Ok(newest.items.into_iter().next().map(|message| message.id))
}
