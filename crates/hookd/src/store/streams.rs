//! Streams of an application's messages in the order they committed, for `ops::stream`
//! (`hookd listen`). A message id is made before its write commits, so ids are not commit
//! order: two messages accepted at once may commit in the other order. Each backend gives
//! every message a *position* that is:
//!
//! - SQLite: `stream_seq`, one more than the application's highest, assigned by the single
//!   writer inside the write transaction, so commit order by construction;
//! - PostgreSQL: `writer_xid`, the id of the transaction that wrote the row, read only below
//!   the oldest transaction still in progress (`pg_snapshot_xmin`): every transaction below
//!   that horizon has ended, so nothing can still commit before a position already read.
//!
//! Positions compare as (commit, message id); rows written before positions existed all have
//! commit 0 and keep their old order, by id.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{AppId, Message, MessageId};

/// Where a message stands in its application's commit order. A stream's cursor: the stream
/// sends what comes after it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct StreamPosition {
    /// The backend's commit-ordered number (see the module docs); 0 for rows from before.
    pub commit: i64,
    /// Orders the messages of one commit; empty stands before every message of `commit`.
    pub message_id: String,
}

/// One read of a stream.
#[derive(Debug, Clone, Default)]
pub struct StreamRead {
    /// The messages after the cursor, oldest commit first, each with its position.
    pub messages: Vec<(StreamPosition, Message)>,
    /// Committed messages of the application exist past the last one returned but are held
    /// back until an older transaction ends (PostgreSQL only): read again soon.
    pub held_back: bool,
}

/// Reads of an application's messages in commit order.
#[async_trait]
pub trait StreamStore: Send + Sync {
    /// The position of one of the application's messages; `None` if it has no such message.
    async fn stream_position(
        &self,
        app_id: &AppId,
        message_id: &MessageId,
    ) -> Result<Option<StreamPosition>, StoreError>;
    /// A position that every message committed after this call comes after.
    async fn stream_head(&self, app_id: &AppId) -> Result<StreamPosition, StoreError>;
    /// At most `limit` of the application's messages after `after`, in commit order; a message
    /// is returned only once nothing can commit before it any more.
    async fn read_stream(
        &self,
        app_id: &AppId,
        after: &StreamPosition,
        limit: usize,
    ) -> Result<StreamRead, StoreError>;
}
