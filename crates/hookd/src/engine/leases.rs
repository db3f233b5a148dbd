//! The leases this node holds, from a claim until its attempt's record is written, and the
//! heartbeat that renews them.
//!
//! Three parts of the engine touch a held lease: the dispatcher holds it when it claims and marks
//! it finished when the attempt is over, the recorder forgets it once the record is written, and
//! the heartbeat renews it or, when it was lost or may lapse, stops its attempt. They share the
//! table only through the operations below, each keyed by the claim's lease token, so a
//! delivery claimed again since (another token) is never confused with the old claim. This
//! module must not send, record or decide anything about a delivery's outcome.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::DeliveryId;
use crate::store::{HeldLease, RenewedLeases, Store};
use crate::telemetry::ErrorChain;

/// Every lease this node holds, by delivery. Cheap to clone: clones share one table.
#[derive(Clone, Default)]
pub(super) struct HeldLeases {
    by_delivery: Arc<Mutex<HashMap<DeliveryId, HeldAttempt>>>,
}

/// How often leases are renewed, and for how long each renewal holds them.
#[derive(Debug, Clone, Copy)]
pub(super) struct Renewal {
    /// How long a claim, or a renewal of it, holds a delivery.
    pub lease: Duration,
    /// How often the held leases are renewed.
    pub every: Duration,
}

/// One held lease.
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

impl HeldLeases {
    /// Holds the lease of a delivery just claimed (the claim was sent at `granted_at`). The
    /// token returned is cancelled when the attempt must stop.
    pub(super) fn hold(
        &self,
        delivery_id: &DeliveryId,
        lease_token: i64,
        granted_at: Instant,
    ) -> CancellationToken {
        let lost = CancellationToken::new();
        self.table().insert(
            delivery_id.clone(),
            HeldAttempt {
                lease_token,
                granted_at,
                finished: false,
                lost: lost.clone(),
            },
        );
        lost
    }

    /// The attempt is over and its record is on the way to the recorder: the lease stays held
    /// (and renewed) until the record is written, and shutdown leaves it to the recorder.
    pub(super) fn attempt_finished(&self, delivery_id: &DeliveryId, lease_token: i64) {
        if let Some(held) = self
            .table()
            .get_mut(delivery_id)
            .filter(|held| held.lease_token == lease_token)
        {
            held.finished = true;
        }
    }

    /// Forgets a held lease, unless the delivery has been claimed again since (another token).
    pub(super) fn forget(&self, delivery_id: &DeliveryId, lease_token: i64) {
        let mut table = self.table();
        if table
            .get(delivery_id)
            .is_some_and(|held| held.lease_token == lease_token)
        {
            table.remove(delivery_id);
        }
    }

    /// Shutdown: forgets the leases whose attempt did not finish and returns their deliveries,
    /// for the store to release. Finished ones stay until their record is written.
    pub(super) fn take_unfinished(&self) -> Vec<DeliveryId> {
        let mut table = self.table();
        let unfinished: Vec<DeliveryId> = table
            .iter()
            .filter(|(_, held)| !held.finished)
            .map(|(delivery_id, _)| delivery_id.clone())
            .collect();
        for delivery_id in &unfinished {
            table.remove(delivery_id);
        }
        unfinished
    }

    /// The heartbeat, until `stop`: every `renewal.every` renews all held leases in one store
    /// call, to `renewal.lease` from now. A lease the store did not renew was lost: its attempt
    /// stops; one it answered busy (its row held by another transaction) is left as it was. An
    /// attempt whose lease was not granted again for all but two renewals' worth of it stops
    /// too (the store is unreachable or slow), before the lease could run out and another claim
    /// could send the same delivery. That check runs every tick whatever the renewal in flight
    /// is doing: a slow renewal is left to finish (a new one starts only once it has), and gives
    /// up only when its grant could no longer keep any attempt going.
    pub(super) async fn renew_until(
        self,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        renewal: Renewal,
        stop: CancellationToken,
    ) {
        let keep_for = renewal.lease.saturating_sub(renewal.every * 2);
        let mut ticks = tokio::time::interval(renewal.every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut in_flight: Option<tokio::task::JoinHandle<()>> = None;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.cancelled() => break,
            }
            if in_flight
                .as_ref()
                .is_none_or(|renewing| renewing.is_finished())
            {
                let leases = self.snapshot();
                if !leases.is_empty() {
                    // Taken before the lease's end, so the lease runs at least `lease` from it.
                    let granted_at = Instant::now();
                    in_flight = Some(tokio::spawn(self.clone().renew_once(
                        Arc::clone(&store),
                        leases,
                        (granted_at, clock.now() + renewal.lease),
                        keep_for,
                    )));
                }
            }
            self.stop_attempts_not_granted_for(keep_for);
        }
        if let Some(renewing) = in_flight {
            renewing.abort();
        }
    }

    /// One renewal of `leases` (granted at the instant given, until the time given). It gives
    /// up after `keep_for`: a grant sent that long ago keeps no attempt going any more.
    async fn renew_once(
        self,
        store: Arc<dyn Store>,
        leases: Vec<HeldLease>,
        (granted_at, until): (Instant, crate::domain::Timestamp),
        keep_for: Duration,
    ) {
        let renewed = tokio::time::timeout(
            keep_for,
            store.renew_leases_unless_busy(leases.clone(), until),
        )
        .await;
        match renewed {
            Err(_elapsed) => {
                tracing::error!(count = leases.len(), "renewing leases timed out");
            }
            Ok(Ok(renewed)) => self.renewed(&leases, renewed, granted_at),
            Ok(Err(error)) => {
                tracing::error!(error = %ErrorChain(&error), count = leases.len(), "renewing leases failed");
            }
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<DeliveryId, HeldAttempt>> {
        self.by_delivery.lock().expect("held leases lock")
    }

    fn snapshot(&self) -> Vec<HeldLease> {
        self.table()
            .iter()
            .map(|(delivery_id, held)| HeldLease {
                delivery_id: delivery_id.clone(),
                lease_token: held.lease_token,
            })
            .collect()
    }

    /// The store renewed `renewed.renewed` of the `asked` leases (renewal sent at
    /// `granted_at`) and found `renewed.busy` held by another transaction; the others were
    /// lost, and their attempts stop.
    fn renewed(&self, asked: &[HeldLease], renewed: RenewedLeases, granted_at: Instant) {
        let busy: HashSet<DeliveryId> = renewed.busy.into_iter().collect();
        let renewed: HashSet<DeliveryId> = renewed.renewed.into_iter().collect();
        let mut table = self.table();
        for lease in asked {
            let Some(held) = table
                .get_mut(&lease.delivery_id)
                .filter(|held| held.lease_token == lease.lease_token)
            else {
                continue;
            };
            if renewed.contains(&lease.delivery_id) {
                held.granted_at = granted_at;
            } else if !busy.contains(&lease.delivery_id) {
                held.lost.cancel();
            }
        }
    }

    fn stop_attempts_not_granted_for(&self, keep_for: Duration) {
        for held in self.table().values().filter(|held| !held.finished) {
            if held.granted_at.elapsed() >= keep_for {
                held.lost.cancel();
            }
        }
    }
}
