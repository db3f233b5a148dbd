//! The dispatcher: claims due deliveries under a lease, runs attempts with bounded concurrency,
//! and hands their results to a recorder that writes them in batches.
//!
//! Each round asks the `Scheduler` for a budget, claims within it (the store visits endpoints
//! fairly and enforces per-endpoint limits, rests and throttles), and starts what it got. Finished attempts report to the scheduler through a channel, which also
//! wakes the loop, since a finished attempt frees room. When there is nothing to claim it sleeps
//! until the next delivery falls due, a pause ends, a new message wakes it, or a short poll
//! interval passes (so work queued by another node or a lease that ran out is picked up).
//!
//! On shutdown it stops claiming, gives in-flight attempts a grace period to finish and be
//! recorded, and releases the leases of any that did not.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempt::{AttemptPolicy, attempt_delivery};
use super::backpressure::CircuitPolicy;
use super::client::DeliveryClient;
use super::outcome::AttemptOutcome;
use super::scheduler::Scheduler;
use crate::clock::Clock;
use crate::domain::{DeliveryId, EndpointId};
use crate::operational;
use crate::store::{AttemptRecord, ClaimedDelivery, Store};
use crate::telemetry::ErrorChain;

/// Dispatcher tuning; the defaults suit one node on a small machine.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Attempts in flight at once, across all endpoints.
    pub max_in_flight: usize,
    /// Most deliveries taken in one claim.
    pub claim_batch: usize,
    /// How long a claim is held before another worker may take the delivery. Longer than the
    /// request timeout, so a live worker's attempt never overlaps a second one.
    pub lease: Duration,
    /// Longest idle sleep between claims.
    pub poll_interval: Duration,
    /// How long shutdown waits for in-flight attempts before releasing them.
    pub shutdown_grace: Duration,
    pub policy: AttemptPolicy,
    /// Attempts in flight to one endpoint, unless the endpoint sets `maxInFlight`.
    pub default_endpoint_max_in_flight: u32,
    pub circuit: CircuitPolicy,
}

/// Runs until `shutdown` is cancelled; see the module docs.
pub struct Dispatcher {
    pub store: Arc<dyn Store>,
    pub client: Arc<DeliveryClient>,
    pub clock: Arc<dyn Clock>,
    pub wake: Arc<Notify>,
    pub config: DispatcherConfig,
}

/// What a finished attempt tells the loop.
struct Finished {
    endpoint_id: EndpointId,
    outcome: AttemptOutcome,
    took: Duration,
}

impl Dispatcher {
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight));
        let in_flight: Arc<Mutex<HashSet<DeliveryId>>> = Arc::default();
        let (records, pending_records) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_attempts(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            Arc::clone(&self.wake),
            self.config.circuit,
            pending_records,
        ));
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
        let mut scheduler = Scheduler::new(
            self.config.default_endpoint_max_in_flight,
            self.config.max_in_flight,
            self.config.circuit,
        );
        let mut attempts = JoinSet::new();

        while !shutdown.is_cancelled() {
            while attempts.try_join_next().is_some() {}
            while let Ok(done) = finished.try_recv() {
                scheduler.finished(&done.endpoint_id, &done.outcome, done.took);
            }
            let free = slots.available_permits().min(self.config.claim_batch);
            if free == 0 {
                tokio::select! {
                    Some(done) = finished.recv() => {
                        scheduler.finished(&done.endpoint_id, &done.outcome, done.took);
                    }
                    _ = shutdown.cancelled() => break,
                }
                continue;
            }
            let budget = scheduler.budget(free);
            let now = self.clock.now();
            let claimed = match self
                .store
                .claim_due_deliveries(now, self.config.lease, budget)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "claiming deliveries failed");
                    self.idle(&shutdown, self.config.poll_interval).await;
                    continue;
                }
            };
            let claimed_all = claimed.len() == free;
            for claim in claimed {
                scheduler.started(&claim);
                self.start_attempt(
                    claim,
                    &slots,
                    &in_flight,
                    &records,
                    &finished_tx,
                    &mut attempts,
                );
            }
            if !claimed_all {
                let sleep = self.time_until_next_due().await;
                tokio::select! {
                    Some(done) = finished.recv() => {
                        scheduler.finished(&done.endpoint_id, &done.outcome, done.took);
                    }
                    _ = self.idle(&shutdown, sleep) => {}
                }
            }
        }

        self.finish(attempts, in_flight).await;
        drop(records);
        let _ = recorder.await;
    }

    fn start_attempt(
        &self,
        claim: ClaimedDelivery,
        slots: &Arc<Semaphore>,
        in_flight: &Arc<Mutex<HashSet<DeliveryId>>>,
        records: &mpsc::UnboundedSender<AttemptRecord>,
        finished: &mpsc::UnboundedSender<Finished>,
        attempts: &mut JoinSet<()>,
    ) {
        let permit = Arc::clone(slots)
            .try_acquire_owned()
            .expect("claimed no more deliveries than free slots");
        in_flight
            .lock()
            .expect("in-flight lock")
            .insert(claim.delivery_id.clone());
        let (client, clock, policy) = (
            Arc::clone(&self.client),
            Arc::clone(&self.clock),
            self.config.policy.clone(),
        );
        let (records, finished, in_flight) =
            (records.clone(), finished.clone(), Arc::clone(in_flight));
        attempts.spawn(async move {
            let (record, outcome) =
                attempt_delivery(&client, &policy, &claim, clock.now(), rand::random()).await;
            tracing::info!(
                app_id = %claim.app_id, msg_id = %claim.msg_id,
                endpoint_id = %claim.endpoint_id, attempt = claim.attempts_made + 1,
                status = record.attempt.response_status_code,
                outcome = record.attempt.failure_code.as_deref().unwrap_or("delivered"),
                "delivery attempt"
            );
            in_flight
                .lock()
                .expect("in-flight lock")
                .remove(&claim.delivery_id);
            let took = Duration::from_millis(record.attempt.response_duration_ms);
            let _ = records.send(record);
            let _ = finished.send(Finished {
                endpoint_id: claim.endpoint_id,
                outcome,
                took,
            });
            drop(permit);
        });
    }

    /// How long to sleep: until an endpoint may have work (a delivery falls due, a rest or a
    /// throttle ends), at most one poll interval. Work that is due but blocked (an endpoint at
    /// its limit) waits for a finished attempt, which wakes the loop, or for the poll interval.
    async fn time_until_next_due(&self) -> Duration {
        let mut sleep = self.config.poll_interval;
        if let Ok(Some(due)) = self.store.next_due_at().await
            && let Ok(until_due) = (due - self.clock.now()).to_std()
            && !until_due.is_zero()
        {
            sleep = sleep.min(until_due);
        }
        sleep.max(Duration::from_millis(1))
    }

    async fn idle(&self, shutdown: &CancellationToken, sleep: Duration) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    /// Shutdown: wait for in-flight attempts, up to the grace period; release what is left.
    async fn finish(&self, mut attempts: JoinSet<()>, in_flight: Arc<Mutex<HashSet<DeliveryId>>>) {
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            attempts.abort_all();
            while attempts.join_next().await.is_some() {}
        }
        let unfinished: Vec<DeliveryId> =
            in_flight.lock().expect("in-flight lock").drain().collect();
        if !unfinished.is_empty() {
            tracing::info!(count = unfinished.len(), "releasing unfinished deliveries");
            if let Err(error) = self.store.release_deliveries(unfinished).await {
                tracing::error!(error = %ErrorChain(&error), "releasing deliveries failed; their leases will expire");
            }
        }
    }
}

/// Writes attempt records in batches (whatever has arrived since the last write goes in one),
/// then queues the operational events they raise.
async fn record_attempts(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
    circuit: CircuitPolicy,
    mut pending: mpsc::UnboundedReceiver<AttemptRecord>,
) {
    let mut batch = Vec::new();
    while pending.recv_many(&mut batch, 1024).await > 0 {
        let records = std::mem::take(&mut batch);
        let count = records.len();
        let mut events = operational::attempt_events(&records);
        match store.record_attempts(records, circuit).await {
            Ok(disabled) => {
                // Recording ends the attempts' leases, which frees room at their endpoints:
                // claim again now rather than at the next poll.
                wake.notify_one();
                for endpoint in &disabled {
                    tracing::warn!(app_id = %endpoint.app_id, endpoint_id = %endpoint.endpoint_id, "endpoint disabled");
                }
                events.extend(operational::disabled_events(disabled));
                if !events.is_empty() {
                    operational::emit(store.as_ref(), &wake, events, clock.now()).await;
                }
            }
            Err(error) => {
                // The deliveries stay leased and fall due again when the lease ends:
                // at-least-once. Their events are raised when they are recorded.
                tracing::error!(error = %ErrorChain(&error), count, "recording attempts failed");
            }
        }
    }
}
