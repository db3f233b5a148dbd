//! Background tasks (Svix's recover and replay of many messages, expunging an application's
//! content, the usage statistics): stored, leased to one runner at a time on any node, and run
//! in batches that each commit their progress.

use async_trait::async_trait;

use super::replay::ReplayFilter;
use super::{Page, PageRequest, StoreError};
use crate::domain::{
    AppId, BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, EventTypeName, Timestamp,
};

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
    /// Runs the next batch of a claimed application task in one transaction: a replay queues up
    /// to `limit` manual deliveries past the task's cursor; `application.purge_content` removes
    /// the payloads of the next `limit` messages by id, as `expunge_message_content` does. It
    /// moves the cursor and the count, renews the lease, and marks the task finished when
    /// nothing is left. A stale token does nothing.
    async fn run_task_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError>;
    /// Runs the next batch of a claimed usage task (`application.stats`,
    /// `event-type.aggregate`): counts the next `limit` applications by id past the cursor and
    /// stores one `UsageRow` each, with the cursor, in one transaction. On SQLite the counting
    /// is done on a reader, so the writer only stores the rows (compare-and-set on the cursor).
    async fn run_usage_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError>;
    /// A usage task's result so far, by application id.
    async fn usage_rows(&self, task_id: &BackgroundTaskId) -> Result<Vec<UsageRow>, StoreError>;
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
    /// The applications a usage task counts (`None`: all of them).
    pub app_ids: Option<Vec<AppId>>,
    pub now: Timestamp,
}

/// A stored background task and its progress.
#[derive(Debug, Clone, PartialEq)]
pub struct BackgroundTask {
    pub id: BackgroundTaskId,
    pub kind: BackgroundTaskKind,
    pub status: BackgroundTaskStatus,
    pub filter: ReplayFilter,
    /// The applications a usage task counts (`None`: all of them).
    pub app_ids: Option<Vec<AppId>>,
    /// Deliveries queued so far (Svix's `messagesSent`); messages expunged, for
    /// `application.purge_content`; applications counted, for a usage task.
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

/// One application's line in a usage task's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRow {
    pub app_id: AppId,
    pub app_uid: Option<String>,
    /// `application.stats`: message/endpoint pairs of the messages created in the window.
    pub message_destinations: u64,
    /// `event-type.aggregate`: the event types its endpoints name, sorted, each once.
    pub event_types: Vec<EventTypeName>,
    /// `event-type.aggregate`: one of its endpoints takes every event type.
    pub has_catch_all: bool,
}

impl UsageRow {
    /// The row of `event-type.aggregate` from the event-type filters of an application's
    /// endpoints (`None`: the endpoint takes every type), each type once, sorted.
    pub fn of_endpoint_filters(
        app_id: AppId,
        app_uid: Option<String>,
        filters: impl IntoIterator<Item = Option<Vec<EventTypeName>>>,
    ) -> Self {
        let mut event_types = std::collections::BTreeSet::new();
        let mut has_catch_all = false;
        for filter in filters {
            match filter {
                Some(types) => event_types.extend(types),
                None => has_catch_all = true,
            }
        }
        UsageRow {
            app_id,
            app_uid,
            message_destinations: 0,
            event_types: event_types.into_iter().collect(),
            has_catch_all,
        }
    }
}
