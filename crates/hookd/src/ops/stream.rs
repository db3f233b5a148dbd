//! Streams of one application's messages, oldest first, for `hookd listen`: a replay from the
//! store of every message after a cursor, then each new one as it is committed.
//!
//! The store is the only source of what a stream sends. `MessageFeed` carries no messages,
//! only the id of an application that has a new one, so a stream that falls behind holds at
//! most one chunk of messages (`STREAM_CHUNK`) and the feed's bounded channel; when it lags
//! past the channel's capacity it simply reads the store again from its cursor. Nothing here
//! knows SSE or HTTP.
//!
//! The cursor is a position in commit order (`store::streams`), not a message id: ids are
//! made before their write commits, so two messages accepted at once may commit in the other
//! order, and a cursor by id would skip the one that committed second. Clients still see
//! only message ids: the stream looks up the position of the id it resumes after.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};
use crate::domain::{AppId, Message, MessageId};
use crate::store::StreamPosition;

/// Messages read from the store at a time by one stream.
pub const STREAM_CHUNK: usize = 16;

/// How many announcements a stream may be behind before it lags and rereads the store.
const FEED_CAPACITY: usize = 256;

/// How often an idle stream reads the store even without an announcement: messages committed
/// by another node (PostgreSQL) are announced only on the node that accepted them.
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// How soon a stream reads again when committed messages are held back behind an older
/// transaction still in progress (PostgreSQL): that transaction's end is not announced.
const HELD_BACK_RECHECK: Duration = Duration::from_millis(50);

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
    cursor: StreamPosition,
    announcements: broadcast::Receiver<AppId>,
    pending: VecDeque<(StreamPosition, Message)>,
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
        StreamStart::After(message) => {
            let message = scope::message_in(ops, &app, message).await?;
            position_of(ops, &app.id, &message.id).await?
        }
        StreamStart::Now => ops.store.stream_head(&app.id).await?,
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
            if let Some((position, message)) = self.pending.pop_front() {
                self.cursor = position;
                return Ok(Some(message));
            }
            let read = self
                .ops
                .store
                .read_stream(&self.app_id, &self.cursor, STREAM_CHUNK)
                .await?;
            if !read.messages.is_empty() {
                self.pending.extend(read.messages);
            } else if read.held_back {
                self.wait_for(HELD_BACK_RECHECK).await;
            } else {
                self.wait_for_announcement().await;
            }
        }
    }

    /// Returns after `pause`, or at once when the server is shutting down.
    async fn wait_for(&self, pause: Duration) {
        tokio::select! {
            () = self.ops.message_feed.closing.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
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

/// The position of a message found by `scope::message_in`; `NotFound` if it went meanwhile.
async fn position_of(
    ops: &Ops,
    app_id: &AppId,
    message_id: &MessageId,
) -> OpResult<StreamPosition> {
    ops.store
        .stream_position(app_id, message_id)
        .await?
        .ok_or(OpError::NotFound(scope::MESSAGE_NOT_FOUND))
}
