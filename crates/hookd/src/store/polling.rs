//! Polling endpoints' side of the store (`PollingStore`): the positions their named consumers
//! have committed, and where a stream stands at a time. A polling endpoint's messages are its
//! application's stream (`store::streams`, commit order) filtered by the endpoint's rules, so
//! a consumer's position is a `StreamPosition` and needs nothing else to be durable.

use async_trait::async_trait;

use super::{StoreError, StreamPosition};
use crate::domain::{AppId, EndpointId, Timestamp};

/// What saving a consumer's position did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerSave {
    /// The position is the consumer's now.
    Saved,
    /// The consumer had already committed a later position (another client of the same
    /// consumer went further); nothing was written. This is the position it has.
    Behind(StreamPosition),
}

/// Consumers of polling endpoints, by endpoint and consumer id; a consumer goes with its
/// endpoint.
#[async_trait]
pub trait PollingStore: Send + Sync {
    /// The position the consumer last committed; `None` for a consumer never seen.
    async fn poller_consumer_position(
        &self,
        endpoint_id: &EndpointId,
        consumer_id: &str,
    ) -> Result<Option<StreamPosition>, StoreError>;

    /// Commits `position` as the consumer's, unless it has a later one (`Behind`) and `rewind`
    /// is false; a seek rewinds. `NotFound` when the endpoint is gone.
    async fn save_poller_consumer_position(
        &self,
        endpoint_id: &EndpointId,
        consumer_id: &str,
        position: &StreamPosition,
        rewind: bool,
        now: Timestamp,
    ) -> Result<ConsumerSave, StoreError>;

    /// A position just before the first of the application's messages (in commit order)
    /// created after `after`; the stream's head when there is none yet.
    async fn stream_position_at(
        &self,
        app_id: &AppId,
        after: Timestamp,
    ) -> Result<StreamPosition, StoreError>;
}
