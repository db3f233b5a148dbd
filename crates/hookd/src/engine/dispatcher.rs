//! The dispatcher: claims due deliveries under a lease, runs attempts with bounded concurrency,
//! and hands their results to a recorder that writes them in batches.
//!
//! Each round asks the `Scheduler` for a budget, claims within it (the store visits endpoints
//! fairly and enforces per-endpoint limits, rests and throttles), and starts what it got. Finished attempts report to the scheduler through a channel, which also
//! wakes the loop, since a finished attempt frees room. When there is nothing to claim it sleeps
//! until the next delivery falls due, a pause ends, the store reports new deliveries
//! (`Store::deliveries_added`: no caller wakes the engine by hand), a record frees room, or a
//! short poll interval passes (so a lease that ran out is picked up). The engine knows nothing
//! of operational events: the store raises them in the transactions that record attempts.
//!
//! Leases are short. While an attempt runs, and until its record is written, a heartbeat renews
//! every lease this node holds in one store call each `lease_renewal` (`renew_leases`), so a
//! dead node's slots come back within a lease while a live node's leases never run out under
//! it. An attempt whose lease was lost (taken over, or its delivery deleted), or could not be
//! renewed in time, is stopped before its lease could lapse, so it never overlaps another claim
//! of the same delivery.
//!
//! On shutdown it stops claiming, gives in-flight attempts a grace period to finish and be
//! recorded, and releases the leases of any that did not.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempt::{AttemptPolicy, attempt_delivery};
use super::client::DeliveryClient;
use super::scheduler::Scheduler;
use crate::clock::Clock;
use crate::domain::{DeliveryId, EndpointId, RecordedFailureCode};
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::outcome::{AttemptOutcome, FailureCode};
use crate::store::{AttemptRecord, ClaimedDelivery, HeldLease, Store};
use crate::telemetry::ErrorChain;

/// Dispatcher tuning; the defaults suit one node on a small machine.
#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// Attempts in flight at once, across all endpoints.
    pub max_in_flight: usize,
    /// Most deliveries taken in one claim.
    pub claim_batch: usize,
    /// How long a claim, or a renewal of it, holds a delivery before another worker may take
    /// it. Short, so a dead worker's deliveries come back soon; several `lease_renewal`s long,
    /// so a live worker's renewals keep it.
    pub lease: Duration,
    /// How often the leases of attempts in flight (or awaiting their record) are renewed.
    pub lease_renewal: Duration,
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
    pub config: DispatcherConfig,
}

/// What ends an idle wait early, besides a due time and shutdown.
struct WakeUps {
    /// The store's: a commit added deliveries (here or, on PostgreSQL, on any node).
    deliveries_added: Arc<Notify>,
    /// The recorder's: recording ended leases, which frees room at their endpoints.
    attempts_recorded: Arc<Notify>,
}

/// What a finished attempt tells the loop.
struct Finished {
    endpoint_id: EndpointId,
    outcome: AttemptOutcome,
    /// How long the attempt took; `None` when this node stopped it (its lease was lost).
    took: Option<Duration>,
}

/// A lease this node holds, from its claim until its attempt's record is written.
struct HeldAttempt {
    lease_token: i64,
    /// When the store last granted the lease (the claim or a renewal was sent): the lease runs
    /// at least `lease` from then.
    granted_at: Instant,
    /// The attempt is over and its record is on the way: shutdown must not release it.
    finished: bool,
    /// Cancelled to stop the attempt when its lease was lost or may lapse.
    lost: CancellationToken,
}

/// Every lease this node holds, by delivery.
type HeldLeases = Arc<Mutex<HashMap<DeliveryId, HeldAttempt>>>;

/// Forgets a held lease, unless the delivery has been claimed again since (another token).
fn forget_lease(held: &HeldLeases, delivery_id: &DeliveryId, lease_token: i64) {
    let mut held = held.lock().expect("held leases lock");
    if held
        .get(delivery_id)
        .is_some_and(|attempt| attempt.lease_token == lease_token)
    {
        held.remove(delivery_id);
    }
}

impl Dispatcher {
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.config.max_in_flight));
        let in_flight: HeldLeases = Arc::default();
        let (records, pending_records) = mpsc::unbounded_channel();
        let wake_ups = WakeUps {
            deliveries_added: self.store.deliveries_added(),
            attempts_recorded: Arc::new(Notify::new()),
        };
        let recorder = tokio::spawn(record_attempts(
            Arc::clone(&self.store),
            Arc::clone(&wake_ups.attempts_recorded),
            self.config.circuit,
            pending_records,
            Arc::clone(&in_flight),
        ));
        // Renewals go on until the last record is written, after shutdown began.
        let stop_renewing = CancellationToken::new();
        let renewer = tokio::spawn(renew_held_leases(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            Arc::clone(&in_flight),
            (self.config.lease, self.config.lease_renewal),
            stop_renewing.clone(),
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
            let granted_at = Instant::now();
            let claimed = match self
                .store
                .claim_due_deliveries(now, self.config.lease, budget)
                .await
            {
                Ok(claimed) => claimed,
                Err(error) => {
                    tracing::error!(error = %ErrorChain(&error), "claiming deliveries failed");
                    self.idle(&shutdown, &wake_ups, self.config.poll_interval)
                        .await;
                    continue;
                }
            };
            let claimed_all = claimed.len() == free;
            for claim in claimed {
                scheduler.started(&claim);
                self.start_attempt(
                    claim,
                    granted_at,
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
                    _ = self.idle(&shutdown, &wake_ups, sleep) => {}
                }
            }
        }

        self.finish(attempts, &in_flight).await;
        drop(records);
        let _ = recorder.await;
        stop_renewing.cancel();
        let _ = renewer.await;
    }

    #[allow(clippy::too_many_arguments)]
    fn start_attempt(
        &self,
        claim: ClaimedDelivery,
        granted_at: Instant,
        slots: &Arc<Semaphore>,
        in_flight: &HeldLeases,
        records: &mpsc::UnboundedSender<AttemptRecord>,
        finished: &mpsc::UnboundedSender<Finished>,
        attempts: &mut JoinSet<()>,
    ) {
        let permit = Arc::clone(slots)
            .try_acquire_owned()
            .expect("claimed no more deliveries than free slots");
        let lost = CancellationToken::new();
        in_flight.lock().expect("held leases lock").insert(
            claim.delivery_id.clone(),
            HeldAttempt {
                lease_token: claim.lease_token,
                granted_at,
                finished: false,
                lost: lost.clone(),
            },
        );
        let (client, clock, policy) = (
            Arc::clone(&self.client),
            Arc::clone(&self.clock),
            self.config.policy.clone(),
        );
        let (records, finished, in_flight) =
            (records.clone(), finished.clone(), Arc::clone(in_flight));
        attempts.spawn(async move {
            let attempt = attempt_delivery(&client, &policy, &claim, clock.now(), rand::random());
            let (record, outcome) = tokio::select! {
                done = attempt => done,
                _ = lost.cancelled() => {
                    // Stopped before the lease could lapse: no record, the delivery falls due
                    // again for whoever holds it next. The slot is free, with nothing learned.
                    tracing::warn!(
                        app_id = %claim.app_id, msg_id = %claim.msg_id,
                        endpoint_id = %claim.endpoint_id, attempt = claim.attempts_made + 1,
                        "delivery attempt stopped: its lease was lost or could not be renewed"
                    );
                    forget_lease(&in_flight, &claim.delivery_id, claim.lease_token);
                    let _ = finished.send(Finished {
                        endpoint_id: claim.endpoint_id,
                        outcome: AttemptOutcome::failed_without_response(FailureCode::Other),
                        took: None,
                    });
                    drop(permit);
                    return;
                }
            };
            tracing::info!(
                app_id = %claim.app_id, msg_id = %claim.msg_id,
                endpoint_id = %claim.endpoint_id, attempt = claim.attempts_made + 1,
                status = record.attempt.response_status_code,
                outcome = record.attempt.failure_code.as_ref().map_or("delivered", RecordedFailureCode::as_str),
                "delivery attempt"
            );
            // The lease stays held (and renewed) until the recorder has written the record.
            if let Some(held) = in_flight
                .lock()
                .expect("held leases lock")
                .get_mut(&claim.delivery_id)
                .filter(|held| held.lease_token == claim.lease_token)
            {
                held.finished = true;
            }
            let took = Some(Duration::from_millis(record.attempt.response_duration_ms));
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

    async fn idle(&self, shutdown: &CancellationToken, wake_ups: &WakeUps, sleep: Duration) {
        tokio::select! {
            _ = wake_ups.deliveries_added.notified() => {}
            _ = wake_ups.attempts_recorded.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = shutdown.cancelled() => {}
        }
    }

    /// Shutdown: wait for in-flight attempts, up to the grace period; release what is left.
    /// Leases whose attempt finished are left to the recorder.
    async fn finish(&self, mut attempts: JoinSet<()>, in_flight: &HeldLeases) {
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while attempts.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            attempts.abort_all();
            while attempts.join_next().await.is_some() {}
        }
        let unfinished: Vec<DeliveryId> = {
            let mut held = in_flight.lock().expect("held leases lock");
            let unfinished: HashSet<DeliveryId> = held
                .iter()
                .filter(|(_, attempt)| !attempt.finished)
                .map(|(delivery_id, _)| delivery_id.clone())
                .collect();
            held.retain(|delivery_id, _| !unfinished.contains(delivery_id));
            unfinished.into_iter().collect()
        };
        if !unfinished.is_empty() {
            tracing::info!(count = unfinished.len(), "releasing unfinished deliveries");
            if let Err(error) = self.store.release_deliveries(unfinished).await {
                tracing::error!(error = %ErrorChain(&error), "releasing deliveries failed; their leases will expire");
            }
        }
    }
}

/// Writes attempt records in batches (whatever has arrived since the last write goes in one);
/// the store raises their operational events in the same transaction.
async fn record_attempts(
    store: Arc<dyn Store>,
    attempts_recorded: Arc<Notify>,
    circuit: CircuitPolicy,
    mut pending: mpsc::UnboundedReceiver<AttemptRecord>,
    held: HeldLeases,
) {
    let mut batch = Vec::new();
    while pending.recv_many(&mut batch, 1024).await > 0 {
        let records = std::mem::take(&mut batch);
        let count = records.len();
        let leases: Vec<(DeliveryId, i64)> = records
            .iter()
            .map(|record| (record.delivery_id.clone(), record.lease_token))
            .collect();
        let recorded = store.record_attempts(records, circuit).await;
        // Written or not, these leases are no longer renewed: a record that failed leaves its
        // delivery to fall due again when the lease runs out (at-least-once).
        for (delivery_id, lease_token) in &leases {
            forget_lease(&held, delivery_id, *lease_token);
        }
        match recorded {
            Ok(disabled) => {
                // Recording ends the attempts' leases, which frees room at their endpoints:
                // claim again now rather than at the next poll.
                attempts_recorded.notify_one();
                for endpoint in &disabled {
                    tracing::warn!(app_id = %endpoint.app_id, endpoint_id = %endpoint.endpoint_id, "endpoint disabled");
                }
            }
            Err(error) => {
                // The deliveries stay leased and fall due again when the lease ends:
                // at-least-once. Nothing of the record was kept, its events neither: they are
                // raised when the attempts are recorded.
                tracing::error!(error = %ErrorChain(&error), count, "recording attempts failed");
            }
        }
    }
}

/// The heartbeat: every `renewal` renews all held leases in one store call, to `lease` from now.
/// A lease the store did not renew was lost: its attempt stops. An attempt whose lease was not
/// granted again for all but two renewals' worth of it stops too (the store is unreachable or
/// slow), before the lease could run out and another claim could send the same delivery.
async fn renew_held_leases(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    held: HeldLeases,
    (lease, renewal): (Duration, Duration),
    stop: CancellationToken,
) {
    let keep_for = lease.saturating_sub(renewal * 2);
    let mut ticks = tokio::time::interval(renewal);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.cancelled() => return,
        }
        let leases: Vec<HeldLease> = held
            .lock()
            .expect("held leases lock")
            .iter()
            .map(|(delivery_id, attempt)| HeldLease {
                delivery_id: delivery_id.clone(),
                lease_token: attempt.lease_token,
            })
            .collect();
        if leases.is_empty() {
            continue;
        }
        let granted_at = Instant::now();
        // A renewal that hangs (a pool with no free connection, a stalled socket) must not hold
        // up the check below, or attempts would outlive their leases while another node claims
        // them; it gives up after one renewal interval and counts as failed.
        let renewed = tokio::time::timeout(
            renewal,
            store.renew_leases(leases.clone(), clock.now() + lease),
        )
        .await;
        let mut held = held.lock().expect("held leases lock");
        match renewed {
            Err(_elapsed) => {
                tracing::error!(count = leases.len(), "renewing leases timed out");
            }
            Ok(Ok(renewed)) => {
                let renewed: HashSet<DeliveryId> = renewed.into_iter().collect();
                for lease in &leases {
                    let Some(attempt) = held
                        .get_mut(&lease.delivery_id)
                        .filter(|attempt| attempt.lease_token == lease.lease_token)
                    else {
                        continue;
                    };
                    if renewed.contains(&lease.delivery_id) {
                        attempt.granted_at = granted_at;
                    } else {
                        attempt.lost.cancel();
                    }
                }
            }
            Ok(Err(error)) => {
                tracing::error!(error = %ErrorChain(&error), count = leases.len(), "renewing leases failed");
            }
        }
        for attempt in held.values().filter(|attempt| !attempt.finished) {
            if attempt.granted_at.elapsed() >= keep_for {
                attempt.lost.cancel();
            }
        }
    }
}
