//! The dispatcher: claims due deliveries under a lease, runs attempts with bounded concurrency,
//! and hands their results to the recorder (`recorder`), which writes them in batches.
//!
//! Each round asks the `Scheduler` for a budget, claims within it (the store visits endpoints
//! fairly and enforces per-endpoint limits, rests and throttles), and starts what it got.
//! Finished attempts report to the scheduler through a channel, which also wakes the loop, since
//! a finished attempt frees room. When there is nothing to claim it sleeps until the next
//! delivery falls due, a pause ends, the store reports new deliveries (`Store::deliveries_added`:
//! no caller wakes the engine by hand), a finished attempt or a record frees room that due work
//! was held back for, or a short poll interval passes (so a lease that ran out is picked up). The engine knows nothing of operational events: the store
//! raises them in the transactions that record attempts.
//!
//! Leases are short. While an attempt runs, and until its record is written, a heartbeat
//! (`leases`) renews every lease this node holds in one store call each `lease_renewal`, so a
//! dead node's slots come back within a lease while a live node's leases never run out under
//! it. An attempt whose lease was lost (taken over, or its delivery deleted), or could not be
//! renewed in time, is stopped before its lease could lapse, so it never overlaps another claim
//! of the same delivery.
//!
//! Each round beats the engine's `heartbeat` (readiness reads it); a round ends within a poll
//! interval whether work is due or every slot is busy. Each attempt counts in the attempt
//! instruments (in flight, outcome and failure code, duration): atomic adds, no lookup. Each
//! runs in a root span `delivery.attempt` named by its ids (application, endpoint, message,
//! delivery, attempt number), which the message's `ops.create_message` span also carries:
//! the request was answered long before, perhaps on another node, so the ids join them.
//!
//! On shutdown it stops claiming, gives in-flight attempts a grace period to finish and be
//! recorded, and releases the leases of any that did not.

mod attempts;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::attempt::AttemptPolicy;
use super::client::DeliveryClient;
use super::heartbeat::Heartbeat;
use super::leases::{HeldLeases, Renewal};
use super::recorder::Recorder;
use super::scheduler::Scheduler;
use crate::clock::Clock;
use crate::policy::backpressure::CircuitPolicy;
use crate::store::Store;
use crate::telemetry::ErrorChain;
use crate::telemetry::instruments::Instruments;
use attempts::{AttemptContext, Attempts, Finished};

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
    /// Beaten every round of the loop.
    pub heartbeat: Heartbeat,
    pub instruments: Arc<Instruments>,
}

impl Dispatcher {
    pub async fn run(self, shutdown: CancellationToken) {
        let held = HeldLeases::default();
        let recorder = Recorder::spawn(Arc::clone(&self.store), self.config.circuit, held.clone());
        let wake_ups = WakeUps {
            deliveries_added: self.store.deliveries_added(),
            attempts_recorded: recorder.attempts_recorded(),
        };
        // Renewals go on until the last record is written, after shutdown began.
        let stop_renewing = CancellationToken::new();
        let renewer = tokio::spawn(held.clone().renew_until(
            Arc::clone(&self.store),
            Arc::clone(&self.clock),
            Renewal {
                lease: self.config.lease,
                every: self.config.lease_renewal,
            },
            stop_renewing.clone(),
        ));
        let (finished_tx, mut finished) = mpsc::unbounded_channel::<Finished>();
        let mut attempts = Attempts {
            slots: Arc::new(Semaphore::new(self.config.max_in_flight)),
            running: JoinSet::new(),
            context: AttemptContext {
                client: Arc::clone(&self.client),
                clock: Arc::clone(&self.clock),
                policy: self.config.policy.clone(),
                held: held.clone(),
                records: recorder.records(),
                finished: finished_tx,
                instruments: Arc::clone(&self.instruments),
            },
        };
        let mut scheduler = Scheduler::new(
            self.config.default_endpoint_max_in_flight,
            self.config.max_in_flight,
            self.config.circuit,
        );

        while !shutdown.is_cancelled() {
            self.heartbeat.beat();
            while attempts.running.try_join_next().is_some() {}
            while let Ok(done) = finished.try_recv() {
                scheduler.finished(&done.endpoint_id, &done.outcome, done.took);
            }
            let free = attempts.free_slots().min(self.config.claim_batch);
            if free == 0 {
                tokio::select! {
                    Some(done) = finished.recv() => {
                        scheduler.finished(&done.endpoint_id, &done.outcome, done.took);
                    }
                    // Every slot busy with slow attempts is not a stuck loop: go round anyway.
                    _ = tokio::time::sleep(self.config.poll_interval) => {}
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
                    self.idle(&shutdown, &wake_ups).await;
                    continue;
                }
            };
            let claimed_all = claimed.len() == free;
            for claim in claimed {
                scheduler.started(&claim);
                attempts.start(claim, granted_at);
            }
            if !claimed_all {
                self.wait_for_work(&shutdown, &wake_ups, &mut finished, &mut scheduler)
                    .await;
            }
        }

        attempts.finish(self.config.shutdown_grace).await;
        self.release_unfinished(&held).await;
        recorder.finish().await;
        stop_renewing.cancel();
        let _ = renewer.await;
    }

    /// Shutdown, once no attempt runs: releases the leases of attempts that did not finish.
    /// Leases whose attempt finished are left to the recorder.
    async fn release_unfinished(&self, held: &HeldLeases) {
        let unfinished = held.take_unfinished();
        if unfinished.is_empty() {
            return;
        }
        tracing::info!(count = unfinished.len(), "releasing unfinished deliveries");
        if let Err(error) = self.store.release_deliveries(unfinished).await {
            tracing::error!(error = %ErrorChain(&error), "releasing deliveries failed; their leases will expire");
        }
    }

    /// After a claim that took less than it could: waits until another claim may take
    /// something. That is when deliveries are added, when the next endpoint falls due (a
    /// delivery, a rest or a throttle ends), at the poll interval, and, only while due work is
    /// held back (an endpoint at its limit, an ordered endpoint's head in flight, the budget),
    /// when an attempt finishes or a record frees room. With nothing held back a finished
    /// attempt or a record cannot make a claim take more, so they do not cost one: at a low
    /// rate that was two empty claims, each a write transaction, per message. A record is
    /// followed by a read of when the next endpoint falls due, since it may end a lease that
    /// held an ordered endpoint back, or schedule a retry sooner than the wait.
    async fn wait_for_work(
        &self,
        shutdown: &CancellationToken,
        wake_ups: &WakeUps,
        finished: &mut mpsc::UnboundedReceiver<Finished>,
        scheduler: &mut Scheduler,
    ) {
        let poll = tokio::time::Instant::now() + self.config.poll_interval;
        let mut next_due = self.store.next_due_at().await.ok().flatten();
        loop {
            let held_back = next_due.is_some_and(|due| due <= self.clock.now());
            let falls_due = async {
                match next_due {
                    Some(at) if !held_back => self.clock.sleep_until(at).await,
                    _ => std::future::pending().await,
                }
            };
            tokio::select! {
                Some(done) = finished.recv() => {
                    scheduler.finished(&done.endpoint_id, &done.outcome, done.took);
                    if held_back {
                        return;
                    }
                }
                _ = wake_ups.attempts_recorded.notified() => {
                    if held_back {
                        return;
                    }
                    next_due = self.store.next_due_at().await.ok().flatten();
                    if next_due.is_some_and(|due| due <= self.clock.now()) {
                        return;
                    }
                }
                _ = wake_ups.deliveries_added.notified() => return,
                _ = falls_due => return,
                _ = tokio::time::sleep_until(poll) => return,
                _ = shutdown.cancelled() => return,
            }
        }
    }

    /// After a failed claim: waits for a wake-up, shutdown, or at most one poll interval (real
    /// time) before trying again.
    async fn idle(&self, shutdown: &CancellationToken, wake_ups: &WakeUps) {
        tokio::select! {
            _ = wake_ups.deliveries_added.notified() => {}
            _ = wake_ups.attempts_recorded.notified() => {}
            _ = tokio::time::sleep(self.config.poll_interval) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// What ends an idle wait early, besides a due time and shutdown.
struct WakeUps {
    /// The store's: a commit added deliveries (here or, on PostgreSQL, on any node).
    deliveries_added: Arc<Notify>,
    /// The recorder's: recording ended leases, which frees room at their endpoints.
    attempts_recorded: Arc<Notify>,
}
