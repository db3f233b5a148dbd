//! Retention: a background task that removes message payloads and attempt response bodies
//! older than the retention period (`--payload-retention`, 30 days by default), keeping the
//! metadata (message rows, attempts, deliveries) for the logs, and deletes idempotency records
//! older than the idempotency window (`--idempotency-window`, 12 h), which are forgotten anyway.
//! The inbound gateway's request records (which hold received bodies) go at the payload
//! retention too, and its dedupe keys once they are older than the longest dedupe window.
//! Application tokens are deleted a day after they expire (`EXPIRED_TOKEN_KEPT`).
//!
//! It works in small batches, each its own short transaction, and pauses between batches, so
//! it never holds the database long enough to stall delivery. Time comes from the injected
//! `Clock`, so tests move a `ManualClock` instead of waiting. A payload whose message still has a
//! pending delivery is kept until that delivery is done (see `Store::purge_payloads_before`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::domain::inbound::MAX_DEDUPE_WINDOW_SECS;
use crate::store::{Store, StoreError};
use crate::telemetry::ErrorChain;

/// How the retention task runs.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// Content older than this is purged.
    pub retention: Duration,
    /// Time between sweeps.
    pub interval: Duration,
    /// Idempotency records older than this are deleted.
    pub idempotency_window: Duration,
    /// Rows per transaction.
    pub batch_size: usize,
    /// Pause between batches of one sweep, leaving the database to delivery work.
    pub pause: Duration,
}

impl RetentionConfig {
    pub fn new(retention: Duration, interval: Duration) -> Self {
        RetentionConfig {
            retention,
            interval,
            idempotency_window: Duration::from_secs(12 * 3600),
            batch_size: 500,
            pause: Duration::from_millis(20),
        }
    }
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Swept {
    pub payloads: usize,
    pub attempt_bodies: usize,
    pub idempotency_records: usize,
    /// Inbound request records past the retention, and dedupe keys past every window.
    pub inbound_records: usize,
    /// Application tokens expired more than `EXPIRED_TOKEN_KEPT` ago.
    pub expired_tokens: usize,
}

/// How long an expired application token stays listed (`GET .../token` shows it expired)
/// before the sweep deletes it. Portal links each issue a token, so without this they pile up.
pub const EXPIRED_TOKEN_KEPT: Duration = Duration::from_secs(24 * 3600);

/// Sweeps every `config.interval` until `shutdown` is cancelled. Errors are logged and the next
/// sweep tries again.
pub async fn run(
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    config: RetentionConfig,
    shutdown: CancellationToken,
) {
    loop {
        match sweep(store.as_ref(), clock.as_ref(), &config, &shutdown).await {
            Ok(swept) if swept != Swept::default() => tracing::info!(
                payloads = swept.payloads,
                attempt_bodies = swept.attempt_bodies,
                idempotency_records = swept.idempotency_records,
                inbound_records = swept.inbound_records,
                expired_tokens = swept.expired_tokens,
                "retention purged old content"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %ErrorChain(&error), "retention sweep failed"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(config.interval) => {}
        }
    }
}

/// One sweep: purge batch after batch until a batch comes back short, or shutdown.
pub async fn sweep(
    store: &dyn Store,
    clock: &dyn Clock,
    config: &RetentionConfig,
    shutdown: &CancellationToken,
) -> Result<Swept, StoreError> {
    let now = clock.now();
    // A cutoff before the earliest time means nothing is old enough yet.
    let cutoff_for = |age: Duration| {
        now.checked_sub_signed(chrono::Duration::from_std(age).unwrap_or(chrono::Duration::MAX))
    };
    let content_cutoff = cutoff_for(config.retention);
    let idempotency_cutoff = cutoff_for(config.idempotency_window);
    let mut swept = Swept::default();
    loop {
        let mut batch = Swept::default();
        if let Some(cutoff) = content_cutoff {
            batch.payloads = store
                .purge_payloads_before(cutoff, config.batch_size)
                .await?;
            batch.attempt_bodies = store
                .purge_attempt_bodies_before(cutoff, config.batch_size)
                .await?;
        }
        if let (Some(requests_before), Some(keys_before)) = (
            content_cutoff,
            cutoff_for(Duration::from_secs(MAX_DEDUPE_WINDOW_SECS)),
        ) {
            batch.inbound_records = store
                .purge_inbound_before(requests_before, keys_before, config.batch_size)
                .await?;
        }
        if let Some(cutoff) = idempotency_cutoff {
            batch.idempotency_records = store
                .purge_idempotency_before(cutoff, config.batch_size)
                .await?;
        }
        swept.payloads += batch.payloads;
        swept.attempt_bodies += batch.attempt_bodies;
        swept.idempotency_records += batch.idempotency_records;
        if let Some(cutoff) = cutoff_for(EXPIRED_TOKEN_KEPT) {
            batch.expired_tokens = store
                .purge_app_tokens_expired_before(cutoff, config.batch_size)
                .await?;
        }
        swept.inbound_records += batch.inbound_records;
        swept.expired_tokens += batch.expired_tokens;
        let batch_was_full = [
            batch.payloads,
            batch.attempt_bodies,
            batch.idempotency_records,
            batch.inbound_records,
            batch.expired_tokens,
        ]
        .iter()
        .any(|&rows| rows >= config.batch_size);
        if !batch_was_full || shutdown.is_cancelled() {
            return Ok(swept);
        }
        tokio::time::sleep(config.pause).await;
    }
}
