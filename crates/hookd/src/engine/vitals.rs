//! The queue sampler: every `SAMPLE_EVERY` it asks the store for the whole queue's vital signs
//! (`store::vitals`) and sets the gauges (pending deliveries, age of the oldest due work,
//! endpoints resting and disabled), then runs the registry's upkeep. One cheap read every few
//! seconds instead of a count on any hot path; a scrape reads the last sample.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::store::Store;
use crate::telemetry::ErrorChain;
use crate::telemetry::instruments::Instruments;

/// How often the queue is sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// Samples until `shutdown`; the first sample is taken at once.
pub async fn sample_until(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    instruments: Arc<Instruments>,
    shutdown: CancellationToken,
) {
    loop {
        let now = clock.now();
        match store.queue_vitals(now).await {
            Ok(vitals) => {
                let oldest_due_age = vitals.oldest_due.map_or(0.0, |due| {
                    (now - due).num_milliseconds().max(0) as f64 / 1000.0
                });
                instruments
                    .queue_pending
                    .set(vitals.pending_deliveries as f64);
                instruments.queue_oldest_due_age.set(oldest_due_age);
                instruments
                    .endpoints_resting
                    .set(vitals.resting_endpoints as f64);
                instruments
                    .endpoints_disabled
                    .set(vitals.disabled_endpoints as f64);
            }
            Err(error) => {
                tracing::warn!(error = %ErrorChain(&error), "sampling the queue for the metrics failed");
            }
        }
        instruments.run_upkeep();
        tokio::select! {
            _ = tokio::time::sleep(SAMPLE_EVERY) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}
