//! The background task runner: executes long replays (`endpoint.recover`, `replay-missing`, bulk
//! replay), an application's content purge and the usage statistics in-process, in batches, so
//! an API call that may touch millions of deliveries answers at once with a task to poll.
//!
//! The runner owns no SQL and no HTTP shapes. It claims a `running` task from the store under a
//! lease, then asks the store to run one batch at a time (`Store::run_task_batch` queues the
//! batch's deliveries, moves the task's cursor and renews the lease in one transaction; the
//! store wakes the dispatcher after each batch's commit), so deliveries start while the task is
//! still running. A usage task's batches go to `Store::run_usage_batch`, which counts
//! applications instead of queueing deliveries.
//!
//! Crash policy: a task left `running` by a process that died is **resumed**, not failed. Its
//! lease runs out (`RunnerConfig::lease`) and the next runner to look (the restarted process, or
//! another PostgreSQL node) claims it and continues after the last batch that committed; because
//! a batch and its cursor commit together, nothing is queued twice and nothing is skipped. On
//! shutdown the runner stops between batches and leaves the task to be resumed the same way.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::store::{ClaimedBackgroundTask, ReplayProgress, ReplayStep, Store};
use crate::telemetry::ErrorChain;

/// How the runner paces itself.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Deliveries queued per batch (one transaction each).
    pub batch_size: usize,
    /// How long a claim holds a task; renewed by every batch.
    pub lease: Duration,
    /// How often the runner looks for tasks when nobody wakes it (tasks created on other nodes,
    /// tasks whose lease ran out).
    pub poll_interval: Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        RunnerConfig {
            batch_size: 500,
            lease: Duration::from_secs(15),
            poll_interval: Duration::from_secs(1),
        }
    }
}

/// Runs background tasks one at a time until shutdown.
pub struct BackgroundRunner {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Notified by the API when it creates a task.
    pub wake: Arc<Notify>,
    pub config: RunnerConfig,
}

impl BackgroundRunner {
    pub async fn run(self, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let now = self.clock.now();
            match self
                .store
                .claim_background_task(now, now + self.config.lease)
                .await
            {
                Ok(Some(claim)) => self.run_task(claim, &shutdown).await,
                Ok(None) => self.idle(&shutdown).await,
                Err(error) => {
                    tracing::warn!(error = %ErrorChain(&error), "could not claim a background task");
                    self.idle(&shutdown).await;
                }
            }
        }
    }

    async fn idle(&self, shutdown: &CancellationToken) {
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(self.config.poll_interval) => {}
        }
    }

    /// Runs batches until the task finishes, fails, loses its lease, or hookd shuts down.
    async fn run_task(&self, claim: ClaimedBackgroundTask, shutdown: &CancellationToken) {
        let task = &claim.task;
        tracing::info!(
            task_id = %task.id,
            task = task.kind.name(),
            app_id = %task.filter.app_id,
            resumed_after = task.messages_sent,
            "background task started"
        );
        while !shutdown.is_cancelled() {
            let now = self.clock.now();
            let step = ReplayStep {
                task_id: task.id.clone(),
                lease_token: claim.lease_token,
                limit: self.config.batch_size,
                now,
                lease_until: now + self.config.lease,
            };
            let batch = if task.kind.is_environment_wide() {
                self.store.run_usage_batch(step).await
            } else {
                self.store.run_task_batch(step).await
            };
            match batch {
                // The store wakes the dispatcher for what a batch queued.
                Ok(ReplayProgress::Queued(_)) => {}
                Ok(ReplayProgress::Finished(_)) => {
                    tracing::info!(task_id = %task.id, "background task finished");
                    return;
                }
                Ok(ReplayProgress::LeaseLost) => {
                    tracing::warn!(task_id = %task.id, "background task lease lost");
                    return;
                }
                Err(error) => {
                    tracing::error!(task_id = %task.id, error = %ErrorChain(&error), "background task failed");
                    let reason = format!("the store failed: {error}");
                    if let Err(error) = self
                        .store
                        .fail_background_task(&claim, reason, self.clock.now())
                        .await
                    {
                        // The lease runs out and the task is resumed later.
                        tracing::error!(task_id = %task.id, error = %ErrorChain(&error), "could not fail the task");
                    }
                    return;
                }
            }
        }
    }
}
