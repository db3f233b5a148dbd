//! SQL for background tasks on PostgreSQL: the `background_task` table (schema_4.sql) with its
//! lease and cursor, and the batches of a replay task. Several nodes run task runners: a task
//! is claimed with `FOR UPDATE SKIP LOCKED` and a lease, and every batch locks the task row and
//! checks the lease token, so two nodes never run batches of one task.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::deliveries::{end_rest, enqueue_resend, make_due_now};
use super::replay::{PairCursor, event_type_names, select_pairs};
use super::rows::{Cursor, Parameters, corrupt, from_micros, to_micros};
use super::{PostgresStore, backend, get, task_batches};
use crate::domain::{
    AppId, BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, EndpointId, EventTypeName,
    MessageId, Timestamp,
};
use crate::store::sealing::Sealing;
use crate::store::stored;
use crate::store::{
    BackgroundTask, BackgroundTaskStore, ClaimedBackgroundTask, NewBackgroundTask, Page,
    PageRequest, ReplayFilter, ReplayProgress, ReplayStep, StoreError, UsageRow,
};

pub(super) const TASK_COLUMNS: &str =
    "id, app_id, kind, status, endpoint_id, event_types, selection, since,
    until, messages_sent, batches, error, created_at, updated_at, app_ids";

#[async_trait]
impl BackgroundTaskStore for PostgresStore {
    async fn create_background_task(&self, task: NewBackgroundTask) -> Result<(), StoreError> {
        let client = self.client().await?;
        let c = &client;
        let filter = &task.filter;
        c.execute(
            "INSERT INTO background_task (id, app_id, kind, status, endpoint_id, event_types,
         selection, since, until, created_at, updated_at, app_ids)
         VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, $9, $9, $10)",
            &[
                &task.id.as_str(),
                &filter.app_id.as_str(),
                &task.kind.name(),
                &filter.endpoint_id.as_ref().map(EndpointId::as_str),
                &event_type_names(filter),
                &stored::replay_selection_code(filter.selection),
                &to_micros(filter.since),
                &filter.until.map(to_micros),
                &to_micros(task.now),
                &task
                    .app_ids
                    .as_ref()
                    .map(|ids| ids.iter().map(AppId::to_string).collect::<Vec<_>>()),
            ],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_background_task(
        &self,
        id: &BackgroundTaskId,
    ) -> Result<Option<BackgroundTask>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        c.query_opt(
            &format!("SELECT {TASK_COLUMNS} FROM background_task WHERE id = $1"),
            &[&id.as_str()],
        )
        .await
        .map_err(backend)?
        .as_ref()
        .map(task_from_row)
        .transpose()
    }

    async fn list_background_tasks(
        &self,
        status: Option<BackgroundTaskStatus>,
        kind: Option<BackgroundTaskKind>,
        page: PageRequest,
    ) -> Result<Page<BackgroundTask>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let page = &page;
        let mut parameters = Parameters::default();
        let mut conditions = String::new();
        if let Some(status) = status {
            let placeholder = parameters.push(status.name());
            conditions.push_str(&format!(" AND status = {placeholder}"));
        }
        if let Some(kind) = kind {
            let placeholder = parameters.push(kind.name());
            conditions.push_str(&format!(" AND kind = {placeholder}"));
        }
        let cursor = Cursor::new("id", page, &mut parameters);
        let sql = format!(
            "SELECT {TASK_COLUMNS} FROM background_task WHERE TRUE {conditions} {} {} LIMIT {}",
            cursor.condition, cursor.order_by, cursor.fetch
        );
        let tasks = c
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(task_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursor.page(tasks, |task| task.id.to_string()))
    }

    async fn claim_background_task(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedBackgroundTask>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let claimed = claim_task(&transaction, now, lease_until).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(claimed)
    }

    async fn run_usage_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let progress = task_batches::run_usage_batch(&transaction, &step).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(progress)
    }

    async fn usage_rows(&self, task_id: &BackgroundTaskId) -> Result<Vec<UsageRow>, StoreError> {
        let client = self.client().await?;
        task_batches::usage_rows(&client, task_id).await
    }

    async fn run_task_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let progress = run_batch(&transaction, &self.sealing, &step).await?;
        transaction.commit().await.map_err(backend)?;
        if let ReplayProgress::Queued(queued) | ReplayProgress::Finished(queued) = progress {
            self.committed(queued);
        }
        Ok(progress)
    }

    async fn fail_background_task(
        &self,
        claim: &ClaimedBackgroundTask,
        error: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let c = &client;
        let error = &error;
        c.execute(
            "UPDATE background_task SET status = 'failed', error = $3, updated_at = $4
         WHERE id = $1 AND lease_token = $2 AND status = 'running'",
            &[
                &claim.task.id.as_str(),
                &claim.lease_token,
                &error,
                &to_micros(now),
            ],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}

/// Claims in the caller's transaction.
async fn claim_task(
    c: &impl GenericClient,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Option<ClaimedBackgroundTask>, StoreError> {
    let lease_token: i64 = rand::random();
    let row = c
        .query_opt(
            &format!(
                "UPDATE background_task SET lease_token = $2, lease_until = $3
                 WHERE id = (SELECT id FROM background_task WHERE status = 'running'
                             AND (lease_until IS NULL OR lease_until <= $1)
                             ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING {TASK_COLUMNS}"
            ),
            &[&to_micros(now), &lease_token, &to_micros(lease_until)],
        )
        .await
        .map_err(backend)?;
    row.as_ref()
        .map(|row| {
            Ok(ClaimedBackgroundTask {
                task: task_from_row(row)?,
                lease_token,
            })
        })
        .transpose()
}

/// Runs one batch in the caller's transaction; the task row stays locked until it commits.
async fn run_batch(
    c: &impl GenericClient,
    sealing: &Sealing,
    step: &ReplayStep,
) -> Result<ReplayProgress, StoreError> {
    let leased = c
        .query_opt(
            &format!(
                "SELECT {TASK_COLUMNS}, cursor_msg_id, cursor_endpoint_id FROM background_task
                 WHERE id = $1 AND lease_token = $2 AND status = 'running' FOR UPDATE"
            ),
            &[&step.task_id.as_str(), &step.lease_token],
        )
        .await
        .map_err(backend)?;
    let Some(row) = leased else {
        return Ok(ReplayProgress::LeaseLost);
    };
    let task = task_from_row(&row)?;
    if task.kind == BackgroundTaskKind::PurgeContent {
        let after = get::<Option<String>>(&row, 15)?.unwrap_or_default();
        return task_batches::run_purge_batch(c, &task, step, after).await;
    }
    let after: PairCursor = match (
        get::<Option<String>>(&row, 15)?,
        get::<Option<String>>(&row, 16)?,
    ) {
        (Some(msg_id), Some(endpoint_id)) => Some((msg_id, endpoint_id)),
        _ => None,
    };
    let selected = select_pairs(c, sealing, &task.filter, &after, Some(step.limit)).await?;
    for (msg_id, endpoint_id) in &selected.queue {
        enqueue_resend(
            c,
            &task.filter.app_id,
            &MessageId::from_trusted(msg_id.as_str()),
            &EndpointId::from_trusted(endpoint_id.as_str()),
            step.now,
        )
        .await?;
    }
    make_due_now(c, &selected.due_now, step.now).await?;
    if task.kind == BackgroundTaskKind::EndpointRecover
        && let Some(endpoint_id) = &task.filter.endpoint_id
    {
        // Recovery is the user saying the endpoint works again: stop resting it.
        end_rest(c, endpoint_id.as_str(), step.now).await?;
    }
    let finished = selected.scanned < step.limit;
    let cursor = selected.last_scanned.or(after).unwrap_or_default();
    let queued = selected.queue.len() + selected.due_now.len();
    record_batch(c, step, cursor, queued, finished).await
}

/// Records one batch: the cursor (`cursor_msg_id` is a replay's message, a purge's message
/// and a usage task's application; `cursor_endpoint_id` only a replay's), the count, the
/// lease, and `finished` when nothing is left.
pub(super) async fn record_batch(
    c: &impl GenericClient,
    step: &ReplayStep,
    cursor: (String, String),
    counted: usize,
    finished: bool,
) -> Result<ReplayProgress, StoreError> {
    let status = if finished {
        BackgroundTaskStatus::Finished
    } else {
        BackgroundTaskStatus::Running
    };
    let optional = |text: &str| Some(text.to_owned()).filter(|text| !text.is_empty());
    c.execute(
        "UPDATE background_task SET status = $2, cursor_msg_id = $3, cursor_endpoint_id = $4,
         messages_sent = messages_sent + $5, batches = batches + 1, lease_until = $6,
         updated_at = $7 WHERE id = $1",
        &[
            &step.task_id.as_str(),
            &status.name(),
            &optional(&cursor.0),
            &optional(&cursor.1),
            &(counted as i64),
            &to_micros(step.lease_until),
            &to_micros(step.now),
        ],
    )
    .await
    .map_err(backend)?;
    Ok(if finished {
        ReplayProgress::Finished(counted)
    } else {
        ReplayProgress::Queued(counted)
    })
}

pub(super) fn task_from_row(row: &Row) -> Result<BackgroundTask, StoreError> {
    let unknown = |what: &str| StoreError::Backend(format!("unknown task {what}").into());
    let kind: String = get(row, 2)?;
    let status: String = get(row, 3)?;
    let event_types = get::<Option<Vec<String>>>(row, 5)?
        .map(|names| {
            names
                .iter()
                .map(|name| EventTypeName::parse(name).map_err(corrupt))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(BackgroundTask {
        id: BackgroundTaskId::from_trusted(get::<String>(row, 0)?),
        kind: BackgroundTaskKind::from_name(&kind).ok_or_else(|| unknown("kind"))?,
        status: BackgroundTaskStatus::from_name(&status).ok_or_else(|| unknown("status"))?,
        filter: ReplayFilter {
            app_id: AppId::from_trusted(get::<String>(row, 1)?),
            endpoint_id: get::<Option<String>>(row, 4)?.map(EndpointId::from_trusted),
            event_types,
            selection: stored::replay_selection(get(row, 6)?)?,
            since: from_micros(get(row, 7)?),
            until: get::<Option<i64>>(row, 8)?.map(from_micros),
        },
        app_ids: get::<Option<Vec<String>>>(row, 14)?
            .map(|ids| ids.into_iter().map(AppId::from_trusted).collect()),
        messages_sent: u64::try_from(get::<i64>(row, 9)?).unwrap_or(0),
        batches: u64::try_from(get::<i64>(row, 10)?).unwrap_or(0),
        error: get(row, 11)?,
        created_at: from_micros(get(row, 12)?),
        updated_at: from_micros(get(row, 13)?),
    })
}
