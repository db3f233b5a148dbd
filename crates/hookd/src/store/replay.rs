//! Manual deliveries: a resend to one endpoint, a replay of one message, and counting what a
//! replay of many would queue (the batches of such a replay are a background task).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{
    AppId, DeliveryId, EndpointId, EventTypeName, MessageId, ReplaySelection, Timestamp,
};

/// Queues manual deliveries, due now.
#[async_trait]
pub trait ReplayStore: Send + Sync {
    /// Queues a manual delivery of the message to the endpoint, due now.
    async fn enqueue_resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> Result<DeliveryId, StoreError>;
    /// Queues a manual delivery of the message, due now, to every endpoint it was fanned out to
    /// (the endpoints its deliveries name); returns how many were queued.
    async fn replay_message(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> Result<usize, StoreError>;
    /// How many message/endpoint pairs the filter selects: what a replay would queue now.
    async fn count_replay(&self, filter: ReplayFilter) -> Result<u64, StoreError>;
}

/// Which message/endpoint pairs a replay selects: messages of the application created in
/// `[since, until)`, optionally of some event types and to one endpoint, whose latest delivery
/// matches `selection`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplayFilter {
    pub app_id: AppId,
    pub endpoint_id: Option<EndpointId>,
    pub event_types: Option<Vec<EventTypeName>>,
    pub selection: ReplaySelection,
    pub since: Timestamp,
    pub until: Option<Timestamp>,
}
