//! The store's vital signs: whether the database answers (readiness) and a few whole-queue
//! counts for the metrics gauges. Read by a periodic sampler, never on a request's or a
//! delivery's path; each query reads an index or the (small) endpoint table.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Timestamp;

/// What the gauges show of the queue, all nodes together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueVitals {
    /// Deliveries pending (waiting for their first attempt or a retry, or in flight).
    pub pending_deliveries: u64,
    /// The earliest `next_due` of an endpoint's queue entry that is not after `now`: the
    /// claimable work that has waited longest. `None` when nothing is due.
    pub oldest_due: Option<Timestamp>,
    /// Endpoints resting (circuit breaker or `Retry-After`) at `now`, disabled ones not counted.
    pub resting_endpoints: u64,
    pub disabled_endpoints: u64,
}

#[async_trait]
pub trait VitalsStore: Send + Sync {
    /// A trivial query, answered by the database itself.
    async fn ping(&self) -> Result<(), StoreError>;
    async fn queue_vitals(&self, now: Timestamp) -> Result<QueueVitals, StoreError>;
}
