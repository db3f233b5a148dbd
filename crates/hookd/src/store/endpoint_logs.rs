//! An endpoint's side of the delivery log: how many attempts it was sent in a window (Svix
//! `endpoint.get_attempt_stats`), and the messages it was sent, each with the state of its
//! latest delivery (Svix `message_attempt.list_attempted_messages`). The SQL lives in each
//! backend's `endpoint_logs` module.

use async_trait::async_trait;

use super::logs::DeliveryState;
use super::stored::delivery_state::{FAILED, PARKED, PENDING, SUCCEEDED};
use super::{MessageFilter, Page, PageRequest, StoreError};
use crate::domain::{AppId, DeliveryStatus, EndpointId, HourWindow, Message, Timestamp};

/// The reads of one endpoint's delivery log.
#[async_trait]
pub trait EndpointLogStore: Send + Sync {
    /// The endpoint's attempts made in `[window.start, window.end)`, by outcome.
    async fn count_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        window: HourWindow,
    ) -> Result<AttemptCounts, StoreError>;
    /// The messages the endpoint was sent (has a delivery of), by message id, each with the
    /// state of the pair's latest delivery; `filter.messages` bounds the message's time.
    async fn list_endpoint_messages(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        filter: EndpointMessageFilter,
        page: PageRequest,
    ) -> Result<Page<EndpointMessage>, StoreError>;
}

/// Which of an endpoint's messages a listing shows.
#[derive(Debug, Clone, Default)]
pub struct EndpointMessageFilter {
    pub messages: MessageFilter,
    /// Svix's status of the latest delivery (a parked one is `Fail`).
    pub status: Option<DeliveryStatus>,
    /// Svix's `canceled` status, which no hookd delivery has: selects nothing.
    pub only_canceled: bool,
}

impl EndpointMessageFilter {
    /// The SQL condition on the latest delivery `d` (`status`, `lease_token`) that `status`
    /// selects, the same on both backends; `None` selects every state.
    pub fn status_condition(&self) -> Option<String> {
        if self.only_canceled {
            return Some("1 = 0".to_owned());
        }
        self.status.map(|status| match status {
            DeliveryStatus::Success => format!("d.status = {SUCCEEDED}"),
            DeliveryStatus::Pending => format!("d.status = {PENDING} AND d.lease_token IS NULL"),
            DeliveryStatus::Sending => {
                format!("d.status = {PENDING} AND d.lease_token IS NOT NULL")
            }
            DeliveryStatus::Fail => format!("d.status IN ({FAILED}, {PARKED})"),
        })
    }
}

/// One message an endpoint was sent, and where it stands there.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointMessage {
    pub message: Message,
    pub state: DeliveryState,
    /// When the next attempt is due, for a pending delivery.
    pub next_attempt_at: Option<Timestamp>,
}

/// Attempts by outcome (an attempt is a success or a failure; none is ever canceled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    pub success: u64,
    pub fail: u64,
}
