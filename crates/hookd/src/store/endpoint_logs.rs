//! An endpoint's side of the delivery log: how many attempts it was sent in a window (Svix
//! `endpoint.get_attempt_stats`), and the messages it was sent, each with the state of its
//! latest delivery (Svix `message_attempt.list_attempted_messages`). The SQL lives in each
//! backend's `endpoint_logs` module.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{EndpointId, HourWindow};

/// The reads of one endpoint's delivery log.
#[async_trait]
pub trait EndpointLogStore: Send + Sync {
    /// The endpoint's attempts made in `[window.start, window.end)`, by outcome.
    async fn count_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        window: HourWindow,
    ) -> Result<AttemptCounts, StoreError>;
}

/// Attempts by outcome (an attempt is a success or a failure; none is ever canceled).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttemptCounts {
    pub success: u64,
    pub fail: u64,
}
