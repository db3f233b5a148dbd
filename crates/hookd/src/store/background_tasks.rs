//! Background tasks (Svix's recover and replay of many messages): stored, leased to one runner
//! at a time on any node, and run in batches that each commit their progress.

use async_trait::async_trait;

use super::replay::ReplayFilter;
use super::{Page, PageRequest, StoreError};
use crate::domain::{BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, Timestamp};

/// Background tasks and their progress.
#[async_trait]
pub trait BackgroundTaskStore: Send + Sync {
    /// Stores a new task, `running` and unleased, so a runner picks it up.
    async fn create_background_task(&self, task: NewBackgroundTask) -> Result<(), StoreError>;
    async fn get_background_task(
        &self,
        id: &BackgroundTaskId,
    ) -> Result<Option<BackgroundTask>, StoreError>;
    /// Tasks by id (newest first by default), optionally of one status and kind.
    async fn list_background_tasks(
        &self,
        status: Option<BackgroundTaskStatus>,
        kind: Option<BackgroundTaskKind>,
        page: PageRequest,
    ) -> Result<Page<BackgroundTask>, StoreError>;
    /// Leases the oldest `running` task whose lease is missing or over until `lease_until`,
    /// with a fresh token. A task whose runner died is thereby resumed from its cursor.
    async fn claim_background_task(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedBackgroundTask>, StoreError>;
    /// Runs the next batch of a claimed replay task in one transaction: queues up to `limit`
    /// manual deliveries past the task's cursor, moves the cursor and the count, renews the
    /// lease, and marks the task finished when nothing is left. A stale token does nothing.
    async fn run_replay_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError>;
    /// Marks a claimed task failed with a reason (a stale token does nothing).
    async fn fail_background_task(
        &self,
        claim: &ClaimedBackgroundTask,
        error: String,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

/// A task to store; it starts `running` with nothing sent.
#[derive(Debug, Clone)]
pub struct NewBackgroundTask {
    pub id: BackgroundTaskId,
    pub kind: BackgroundTaskKind,
    pub filter: ReplayFilter,
    pub now: Timestamp,
}

/// A stored background task and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundTask {
    pub id: BackgroundTaskId,
    pub kind: BackgroundTaskKind,
    pub status: BackgroundTaskStatus,
    pub filter: ReplayFilter,
    /// Deliveries queued so far (Svix's `messagesSent`).
    pub messages_sent: u64,
    /// Batches run so far.
    pub batches: u64,
    /// Why the task failed, when it did.
    pub error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A task leased to one runner; `lease_token` proves the lease on every later write.
#[derive(Debug, Clone)]
pub struct ClaimedBackgroundTask {
    pub task: BackgroundTask,
    pub lease_token: i64,
}

/// One batch of a claimed replay task.
#[derive(Debug, Clone)]
pub struct ReplayStep {
    pub task_id: BackgroundTaskId,
    pub lease_token: i64,
    pub limit: usize,
    pub now: Timestamp,
    pub lease_until: Timestamp,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProgress {
    /// Queued this many deliveries; more may be left.
    Queued(usize),
    /// Queued this many and found nothing more: the task is finished.
    Finished(usize),
    /// The lease was lost (another runner holds the task, or it is no longer running).
    LeaseLost,
}
