//! The engine's side of the store: claiming due deliveries under a lease, recording attempts
//! with their effect on endpoint health, and keeping or giving back leases.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use super::stored::delivery_state;
use crate::domain::{
    AppId, Attempt, DeliveryId, DeliveryOptions, DeliveryStatus, EndpointId, EndpointUrl,
    EventTypeName, MessageId, SigningSecrets, Timestamp, TriggerType,
};
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::health::AttemptResult;

/// The delivery queue as the engine works it.
#[async_trait]
pub trait DeliveryStore: Send + Sync {
    /// Leases due deliveries until `now + lease`, within `budget`, visiting endpoints fairly:
    /// applications in turn, and each endpoint's share before any endpoint's second share.
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        budget: ClaimBudget,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;

    /// Records attempts and moves their deliveries on, all in one transaction. Tracks since when
    /// each endpoint has been failing, and returns the endpoints it disabled (410 Gone, or
    /// failing for too long), whose pending deliveries it parked.
    /// Endpoint health follows `circuit`: consecutive failures, and the rest they impose.
    /// The operational events the records raise (see `outbox`) commit in the same transaction.
    async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
        circuit: CircuitPolicy,
    ) -> Result<Vec<DisabledEndpoint>, StoreError>;
    /// Gives leased deliveries back (on shutdown) so another worker can claim them at once.
    async fn release_deliveries(&self, ids: Vec<DeliveryId>) -> Result<(), StoreError>;
    /// Moves the end of each lease that is still held (its token matches and the delivery is
    /// pending) to `until`, all in one statement: the heartbeat of a live worker, so leases can
    /// be short and a dead worker's run out within seconds. Returns the deliveries whose lease
    /// was renewed; a lease missing from the answer was lost, and its attempt should stop.
    async fn renew_leases(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<Vec<DeliveryId>, StoreError>;
    /// `renew_leases`, without waiting for a delivery row another transaction holds: such a
    /// lease is answered as `busy`, neither renewed nor lost (most often this node's own record
    /// of the finished attempt is writing it, which ends the lease anyway; while the row is
    /// held, no claim can take it). The heartbeat then neither waits behind that transaction
    /// nor counts the lease as granted again. A store whose renewal never waits for other
    /// writers answers nothing busy.
    async fn renew_leases_unless_busy(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<RenewedLeases, StoreError> {
        Ok(RenewedLeases {
            renewed: self.renew_leases(leases, until).await?,
            busy: Vec::new(),
        })
    }
    /// When the next pending delivery falls due, if any.
    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError>;
}

/// A delivery handed to the dispatcher, with everything needed to send it without another read.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    pub delivery_id: DeliveryId,
    /// Identifies this claim; recording with a stale token (the lease ran out and the delivery was
    /// claimed again) keeps the attempt but does not move the delivery on.
    pub lease_token: i64,
    pub app_id: AppId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub event_type: EventTypeName,
    /// Attempts made before this one.
    pub attempts_made: u32,
    pub trigger_type: TriggerType,
    pub url: EndpointUrl,
    pub headers: BTreeMap<String, String>,
    /// The endpoint's delivery settings (auth, retry schedule, ordering, concurrency).
    pub options: DeliveryOptions,
    /// Every secret that signs right now (the current one and any still in their grace period),
    /// parsed once by the store.
    pub secrets: SigningSecrets,
    /// `None` when the message content was expunged; the delivery then fails without sending.
    pub payload: Option<String>,
    /// The payload's content type when it is not JSON (an inbound form post); `None` is JSON.
    pub content_type: Option<String>,
    /// Headers of the inbound request the message came from, forwarded unchanged (a
    /// source's `forwardHeaders`); empty for every other message.
    pub original_headers: Vec<(String, String)>,
    /// The endpoint's transformation (JavaScript source) while it is enabled; `None` sends the
    /// payload as stored, byte for byte.
    pub transformation: Option<Arc<str>>,
}

/// What `renew_leases_unless_busy` did: the leases it renewed, and those whose rows another
/// transaction held (not renewed, not lost). Any other lease asked for was lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenewedLeases {
    pub renewed: Vec<DeliveryId>,
    pub busy: Vec<DeliveryId>,
}

/// A lease a worker holds: the delivery and the token its claim stamped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldLease {
    pub delivery_id: DeliveryId,
    pub lease_token: i64,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Delivered: the task is finished.
    Done,
    /// Failed; try again at this time.
    RetryAt(Timestamp),
    /// Failed and out of retries: the task is finished as failed.
    GiveUp,
}

/// The outcome of one attempt, recorded together with the delivery's next step.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery_id: DeliveryId,
    pub lease_token: i64,
    /// Which attempt of this delivery it was (1 for the first).
    pub attempt_number: u32,
    pub attempt: Attempt,
    pub next: NextStep,
    /// The receiver answered `410 Gone`: disable the endpoint and park its pending deliveries.
    pub disable_endpoint: bool,
    /// Disable the endpoint too if this attempt failed and the endpoint has been failing without
    /// a success since this time or earlier.
    pub disable_if_failing_since: Option<Timestamp>,
    /// The receiver's `Retry-After`, which rests the whole endpoint.
    pub retry_after: Option<Duration>,
}

/// An endpoint that `record_attempts` disabled, and since when it had been failing.
#[derive(Debug, Clone, PartialEq)]
pub struct DisabledEndpoint {
    pub app_id: AppId,
    pub endpoint_id: EndpointId,
    pub failing_since: Option<Timestamp>,
}

/// What one claim may take (see `policy::claim_budget`), for the store's endpoint ids.
pub type ClaimBudget = crate::policy::claim_budget::ClaimBudget<EndpointId>;

impl AttemptRecord {
    /// What this attempt bears on its endpoint's health (`policy::health::apply`).
    pub fn health_result(&self) -> AttemptResult {
        AttemptResult {
            succeeded: self.attempt.status == DeliveryStatus::Success,
            at: self.attempt.created_at,
            retry_after: self.retry_after,
            gone: self.disable_endpoint,
            disable_if_failing_since: self.disable_if_failing_since,
        }
    }

    /// Whether this attempt can disable its endpoint (`policy::health::apply` disables for a
    /// 410, and for a failure when the endpoint has been failing since
    /// `disable_if_failing_since`): a write that records it may raise `endpoint.disabled`.
    pub fn may_disable_endpoint(&self) -> bool {
        let result = self.health_result();
        result.gone || (!result.succeeded && result.disable_if_failing_since.is_some())
    }

    /// The delivery's `status` column and `next_attempt_at` after this attempt: a retry is
    /// pending until its time, a finished delivery keeps the attempt's time.
    pub fn delivery_step(&self) -> (i16, Timestamp) {
        match self.next {
            NextStep::Done => (delivery_state::SUCCEEDED, self.attempt.created_at),
            NextStep::RetryAt(at) => (delivery_state::PENDING, at),
            NextStep::GiveUp => (delivery_state::FAILED, self.attempt.created_at),
        }
    }
}
