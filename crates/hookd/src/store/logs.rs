//! The records and filters of the delivery-log views: where a message went, what ended failed or
//! parked (the dead-letter view), per-endpoint counts and attempt samples for statistics. The SQL
//! lives in each backend's `logs` module; this file holds the contract, the shapes both
//! backends return, and the pure folding of dead-letter counts into a summary.

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::{
    AppId, DeliveryId, DeliveryTaskState, EndpointId, EventTypeName, MessageId, Timestamp,
};

/// The delivery-log views of an application and the statistics of an endpoint.
#[async_trait]
pub trait LogStore: Send + Sync {
    /// The endpoints a message was sent to, by endpoint id, each as its latest delivery says.
    async fn list_message_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: PageRequest,
    ) -> Result<Page<Destination>, StoreError>;
    /// Message/endpoint pairs whose latest delivery failed or is parked, by delivery id.
    async fn list_dead_letters(
        &self,
        app_id: &AppId,
        filter: DeadLetterFilter,
        page: PageRequest,
    ) -> Result<Page<DeadLetter>, StoreError>;
    /// The dead letters of an application counted per endpoint, event type and kind.
    async fn count_dead_letters(&self, app_id: &AppId) -> Result<Vec<DeadLetterGroup>, StoreError>;
    /// The endpoint's message/endpoint pairs per state, for messages created in `[since, until)`.
    async fn count_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<DeliveryCounts, StoreError>;
    /// The endpoint's attempts made at or after `since`, oldest first, at most
    /// `MAX_ATTEMPT_SAMPLES`.
    async fn sample_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        since: Timestamp,
    ) -> Result<Vec<AttemptSample>, StoreError>;
}

/// Where one message stands at one endpoint, read from the latest delivery of the pair (a
/// resend adds a delivery; the newest one decides).
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub endpoint_id: EndpointId,
    pub state: DeliveryState,
    /// When the next attempt is due, for a pending delivery.
    pub next_attempt_at: Option<Timestamp>,
}

/// The stored state of a delivery (`delivery.status`), with "pending" split by whether a
/// worker holds it right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    Success,
    Pending,
    /// Pending and leased by a worker: an attempt is in flight.
    Sending,
    Failed,
    /// Not sent because its endpoint was disabled when it fell due; kept, not dropped.
    Parked,
}

impl DeliveryState {
    /// A delivery's stored state and whether the row is leased.
    pub fn from_stored(state: DeliveryTaskState, leased: bool) -> Self {
        match state {
            DeliveryTaskState::Succeeded => DeliveryState::Success,
            DeliveryTaskState::Failed => DeliveryState::Failed,
            DeliveryTaskState::Parked => DeliveryState::Parked,
            DeliveryTaskState::Pending if leased => DeliveryState::Sending,
            DeliveryTaskState::Pending => DeliveryState::Pending,
        }
    }
}

/// Filters for the dead-letter view; `before`/`after` bound the message's time.
#[derive(Debug, Clone, Default)]
pub struct DeadLetterFilter {
    pub endpoint_id: Option<EndpointId>,
    pub event_types: Option<Vec<EventTypeName>>,
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

/// A message/endpoint pair whose latest delivery ended failed or is parked.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The latest delivery of the pair; also the listing's cursor (newest first).
    pub delivery_id: DeliveryId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub event_type: EventTypeName,
    pub parked: bool,
    pub attempts_made: u32,
    pub message_created_at: Timestamp,
    /// The time of the pair's newest attempt, if any was made.
    pub last_attempt_at: Option<Timestamp>,
}

/// Dead letters of one endpoint and event type, by kind: what the store counts.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterGroup {
    pub endpoint_id: EndpointId,
    pub event_type: EventTypeName,
    pub parked: bool,
    pub count: u64,
}

/// Failed and parked counts under one key (an endpoint id or an event type name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterCount {
    pub failed: u64,
    pub parked: u64,
}

/// Dead-letter counts per endpoint and per event type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadLetterSummary {
    pub total: DeadLetterCount,
    pub by_endpoint: BTreeMap<String, DeadLetterCount>,
    pub by_event_type: BTreeMap<String, DeadLetterCount>,
}

impl DeadLetterSummary {
    /// Folds the store's groups into totals per endpoint and per event type.
    pub fn from_groups(groups: &[DeadLetterGroup]) -> Self {
        let mut summary = DeadLetterSummary::default();
        for group in groups {
            for count in [
                &mut summary.total,
                summary
                    .by_endpoint
                    .entry(group.endpoint_id.to_string())
                    .or_default(),
                summary
                    .by_event_type
                    .entry(group.event_type.as_str().to_owned())
                    .or_default(),
            ] {
                if group.parked {
                    count.parked += group.count;
                } else {
                    count.failed += group.count;
                }
            }
        }
        summary
    }
}

/// How many of an endpoint's message/endpoint pairs are in each state (latest delivery each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryCounts {
    pub success: u64,
    pub pending: u64,
    pub sending: u64,
    pub failed: u64,
    pub parked: u64,
}

impl DeliveryCounts {
    pub fn add(&mut self, state: DeliveryState, count: u64) {
        match state {
            DeliveryState::Success => self.success += count,
            DeliveryState::Pending => self.pending += count,
            DeliveryState::Sending => self.sending += count,
            DeliveryState::Failed => self.failed += count,
            DeliveryState::Parked => self.parked += count,
        }
    }
}

/// One attempt reduced to what statistics need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptSample {
    pub created_at: Timestamp,
    pub success: bool,
    pub duration_ms: u64,
}

/// Most attempt samples one statistics read returns, so a busy endpoint cannot make one API
/// call load an unbounded number of rows.
pub const MAX_ATTEMPT_SAMPLES: usize = 100_000;
