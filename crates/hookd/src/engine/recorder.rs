//! The recorder: writes finished attempts' records in batches (whatever has arrived since the
//! last write goes in one store call), then lets go of their leases and wakes the dispatcher,
//! since recording ends leases and so frees room at their endpoints. The store raises the
//! attempts' operational events in the same transaction; this module knows nothing of them,
//! and must not send or retry anything. Each batch is written in a root span `delivery.record`
//! (how many attempts), which the store's commit span follows from.

use std::sync::Arc;

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::leases::HeldLeases;
use crate::domain::DeliveryId;
use crate::policy::backpressure::CircuitPolicy;
use crate::store::{AttemptRecord, Store};
use crate::telemetry::ErrorChain;

/// Most records written in one store call.
const MAX_BATCH: usize = 1024;

/// The running recorder. Attempts hand it their records through [`Recorder::records`].
pub(super) struct Recorder {
    records: mpsc::UnboundedSender<AttemptRecord>,
    attempts_recorded: Arc<Notify>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Starts recording; each written batch lets go of its leases in `held`.
    pub(super) fn spawn(store: Arc<dyn Store>, circuit: CircuitPolicy, held: HeldLeases) -> Self {
        let (records, pending) = mpsc::unbounded_channel();
        let attempts_recorded = Arc::new(Notify::new());
        let task = tokio::spawn(record_batches(
            store,
            circuit,
            held,
            pending,
            Arc::clone(&attempts_recorded),
        ));
        Recorder {
            records,
            attempts_recorded,
            task,
        }
    }

    /// Where an attempt sends its record.
    pub(super) fn records(&self) -> mpsc::UnboundedSender<AttemptRecord> {
        self.records.clone()
    }

    /// Notified after each batch is written: its leases have ended.
    pub(super) fn attempts_recorded(&self) -> Arc<Notify> {
        Arc::clone(&self.attempts_recorded)
    }

    /// Writes what is still pending and stops. Every attempt must be over (its sender dropped):
    /// the recorder stops when the last sender is gone.
    pub(super) async fn finish(self) {
        drop(self.records);
        let _ = self.task.await;
    }
}

async fn record_batches(
    store: Arc<dyn Store>,
    circuit: CircuitPolicy,
    held: HeldLeases,
    mut pending: mpsc::UnboundedReceiver<AttemptRecord>,
    attempts_recorded: Arc<Notify>,
) {
    let mut batch = Vec::new();
    while pending.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let records = std::mem::take(&mut batch);
        let count = records.len();
        let leases: Vec<(DeliveryId, i64)> = records
            .iter()
            .map(|record| (record.delivery_id.clone(), record.lease_token))
            .collect();
        let span = tracing::info_span!(parent: None, "delivery.record", attempts = count);
        let recorded = store
            .record_attempts(records, circuit)
            .instrument(span)
            .await;
        // Written or not, these leases are no longer renewed: a record that failed leaves its
        // delivery to fall due again when the lease runs out (at-least-once).
        for (delivery_id, lease_token) in &leases {
            held.forget(delivery_id, *lease_token);
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
