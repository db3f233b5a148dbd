//! The attempts a dispatcher has in flight: one task and one slot each, holding its lease
//! until the attempt is over, then handing the record to the recorder and the outcome to the
//! loop.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, Span};

use super::super::attempt::{AttemptPolicy, attempt_delivery};
use super::super::client::DeliveryClient;
use super::super::leases::HeldLeases;
use crate::clock::Clock;
use crate::domain::{EndpointId, RecordedFailureCode};
use crate::policy::outcome::{AttemptOutcome, FailureCode};
use crate::store::{AttemptRecord, ClaimedDelivery};
use crate::telemetry::instruments::Instruments;

/// What a finished attempt tells the loop.
pub(super) struct Finished {
    pub(super) endpoint_id: EndpointId,
    pub(super) outcome: AttemptOutcome,
    /// How long the attempt took; `None` when this node stopped it (its lease was lost).
    pub(super) took: Option<Duration>,
}

/// The attempts in flight, one slot each.
pub(super) struct Attempts {
    pub(super) slots: Arc<Semaphore>,
    pub(super) running: JoinSet<()>,
    pub(super) context: AttemptContext,
}

/// What each attempt's task takes with it.
#[derive(Clone)]
pub(super) struct AttemptContext {
    pub(super) client: Arc<DeliveryClient>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) policy: AttemptPolicy,
    pub(super) held: HeldLeases,
    pub(super) records: mpsc::UnboundedSender<AttemptRecord>,
    pub(super) finished: mpsc::UnboundedSender<Finished>,
    pub(super) instruments: Arc<Instruments>,
}

impl Attempts {
    pub(super) fn free_slots(&self) -> usize {
        self.slots.available_permits()
    }

    /// Holds the claim's lease (granted when the claim was sent, at `granted_at`) and runs its
    /// attempt in a slot of its own. The slot is freed after the loop has been told.
    pub(super) fn start(&mut self, claim: ClaimedDelivery, granted_at: Instant) {
        let permit = Arc::clone(&self.slots)
            .try_acquire_owned()
            .expect("claimed no more deliveries than free slots");
        let lost = self
            .context
            .held
            .hold(&claim.delivery_id, claim.lease_token, granted_at);
        let context = self.context.clone();
        context.instruments.attempts.in_flight.increment(1.0);
        let span = attempt_span(&claim);
        self.running.spawn(
            async move {
                // Counted out however the task ends, aborted at shutdown included.
                let _in_flight = InFlight(Arc::clone(&context.instruments));
                let finished = context.run(claim, lost).await;
                let _ = context.finished.send(finished);
                drop(permit);
            }
            .instrument(span),
        );
    }

    /// Shutdown: waits for the attempts in flight, up to the grace period, and stops the rest.
    pub(super) async fn finish(mut self, grace: Duration) {
        let drained = tokio::time::timeout(grace, async {
            while self.running.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.running.abort_all();
            while self.running.join_next().await.is_some() {}
        }
    }
}

/// The span of one attempt; `outcome` (`delivered`, `failed`, `stopped`), `failure_code` and
/// `status` are recorded when it ends.
fn attempt_span(claim: &ClaimedDelivery) -> Span {
    tracing::info_span!(
        parent: None,
        "delivery.attempt",
        app_id = %claim.app_id,
        endpoint_id = %claim.endpoint_id,
        msg_id = %claim.msg_id,
        delivery_id = %claim.delivery_id,
        attempt = claim.attempts_made + 1,
        outcome = tracing::field::Empty,
        failure_code = tracing::field::Empty,
        status = tracing::field::Empty,
    )
}

impl AttemptContext {
    /// One attempt, unless `lost` stops it first; a finished attempt's record goes to the
    /// recorder, and its lease stays held (and renewed) until the record is written.
    async fn run(&self, claim: ClaimedDelivery, lost: CancellationToken) -> Finished {
        let attempt = attempt_delivery(
            &self.client,
            &self.policy,
            &claim,
            self.clock.now(),
            rand::random(),
        );
        let (record, outcome) = tokio::select! {
            done = attempt => done,
            _ = lost.cancelled() => return self.stopped(claim),
        };
        let (span, code) = (Span::current(), record.attempt.failure_code.as_ref());
        span.record("outcome", code.map_or("delivered", |_| "failed"));
        span.record("failure_code", code.map(RecordedFailureCode::as_str));
        let status = record.attempt.response_status_code;
        span.record("status", Some(status).filter(|status| *status > 0));
        tracing::info!(
            app_id = %claim.app_id, msg_id = %claim.msg_id,
            endpoint_id = %claim.endpoint_id, attempt = claim.attempts_made + 1,
            status = record.attempt.response_status_code,
            outcome = record.attempt.failure_code.as_ref().map_or("delivered", RecordedFailureCode::as_str),
            "delivery attempt"
        );
        self.held
            .attempt_finished(&claim.delivery_id, claim.lease_token);
        let took = Duration::from_millis(record.attempt.response_duration_ms);
        self.instruments
            .attempts
            .finished(outcome.failure_code(), took);
        let took = Some(took);
        let _ = self.records.send(record);
        Finished {
            endpoint_id: claim.endpoint_id,
            outcome,
            took,
        }
    }

    /// Stopped before the lease could lapse: no record, the delivery falls due again for
    /// whoever holds it next. The slot is free, with nothing learned.
    fn stopped(&self, claim: ClaimedDelivery) -> Finished {
        Span::current().record("outcome", "stopped");
        tracing::warn!(
            app_id = %claim.app_id, msg_id = %claim.msg_id,
            endpoint_id = %claim.endpoint_id, attempt = claim.attempts_made + 1,
            "delivery attempt stopped: its lease was lost or could not be renewed"
        );
        self.held.forget(&claim.delivery_id, claim.lease_token);
        self.instruments.attempts.stopped.increment(1);
        Finished {
            endpoint_id: claim.endpoint_id,
            outcome: AttemptOutcome::failed_without_response(FailureCode::Other),
            took: None,
        }
    }
}

/// One attempt in flight, for the gauge: counted out when dropped.
struct InFlight(Arc<Instruments>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.attempts.in_flight.decrement(1.0);
    }
}
