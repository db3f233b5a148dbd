//! SQL for background tasks on SQLite: the `background_task` table (schema_5.sql) with its lease
//! and cursor, and the batches of a replay task (a purge's and a usage task's batches are in
//! `task_batches.rs`).

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::deliveries::{end_rest, enqueue_resend, make_due_now};
use super::replay::{event_types_json, select_pairs};
use super::rows::{Cursor, corrupt, from_json, from_micros, to_json, to_micros};
use super::{SqliteStore, backend, task_batches};
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

const TASK_COLUMNS: &str = "id, app_id, kind, status, endpoint_id, event_types, selection, since,
    until, messages_sent, batches, error, created_at, updated_at, app_ids";

#[async_trait]
impl BackgroundTaskStore for SqliteStore {
    async fn create_background_task(&self, task: NewBackgroundTask) -> Result<(), StoreError> {
        self.write(move |c| {
            let filter = &task.filter;
            c.prepare_cached(
                "INSERT INTO background_task (id, app_id, kind, status, endpoint_id, event_types,
         selection, since, until, created_at, updated_at, app_ids)
         VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10)",
            )
            .map_err(backend)?
            .execute(params![
                task.id.as_str(),
                filter.app_id.as_str(),
                task.kind.name(),
                filter.endpoint_id.as_ref().map(EndpointId::as_str),
                event_types_json(filter)?,
                stored::replay_selection_code(filter.selection),
                to_micros(filter.since),
                filter.until.map(to_micros),
                to_micros(task.now),
                app_ids_json(task.app_ids.as_deref())?,
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_background_task(
        &self,
        id: &BackgroundTaskId,
    ) -> Result<Option<BackgroundTask>, StoreError> {
        let id = id.clone();
        self.read(move |c| find_task(c, &id)).await
    }

    async fn list_background_tasks(
        &self,
        status: Option<BackgroundTaskStatus>,
        kind: Option<BackgroundTaskKind>,
        page: PageRequest,
    ) -> Result<Page<BackgroundTask>, StoreError> {
        self.read(move |c| {
            let page = &page;
            let cursor = Cursor::new("id", page);
            let mut conditions = String::new();
            let mut values = Vec::new();
            if let Some(status) = status {
                conditions.push_str(" AND status = ?");
                values.push(Value::Text(status.name().to_owned()));
            }
            if let Some(kind) = kind {
                conditions.push_str(" AND kind = ?");
                values.push(Value::Text(kind.name().to_owned()));
            }
            values.extend(cursor.parameter.clone());
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM background_task WHERE TRUE {conditions} {} {} LIMIT {}",
                cursor.condition, cursor.order_by, cursor.fetch
            );
            let tasks = c
                .prepare(&sql)
                .map_err(backend)?
                .query_map(rusqlite::params_from_iter(values), |row| {
                    Ok(task_from_row(row))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?;
            Ok(cursor.page(tasks, |task| task.id.to_string()))
        })
        .await
    }

    async fn claim_background_task(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<ClaimedBackgroundTask>, StoreError> {
        self.write(move |c| {
            let id: Option<String> = c
                .prepare_cached(
                    "SELECT id FROM background_task WHERE status = 'running'
             AND (lease_until IS NULL OR lease_until <= ?1) ORDER BY id LIMIT 1",
                )
                .map_err(backend)?
                .query_row(params![to_micros(now)], |row| row.get(0))
                .optional()
                .map_err(backend)?;
            let Some(id) = id else {
                return Ok(None);
            };
            let lease_token: i64 = rand::random();
            c.prepare_cached(
                "UPDATE background_task SET lease_token = ?2, lease_until = ?3 WHERE id = ?1",
            )
            .map_err(backend)?
            .execute(params![id, lease_token, to_micros(lease_until)])
            .map_err(backend)?;
            let task = find_task(c, &BackgroundTaskId::from_trusted(id))?;
            Ok(task.map(|task| ClaimedBackgroundTask { task, lease_token }))
        })
        .await
    }

    async fn run_task_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError> {
        let sealing = std::sync::Arc::clone(&self.sealing);
        self.write_adding(move |c| {
            let progress = run_batch(c, &sealing, &step)?;
            let queued = match progress {
                ReplayProgress::Queued(queued) | ReplayProgress::Finished(queued) => queued,
                ReplayProgress::LeaseLost => 0,
            };
            Ok((progress, queued))
        })
        .await
    }

    async fn fail_background_task(
        &self,
        claim: &ClaimedBackgroundTask,
        error: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let claim = claim.clone();
        self.write(move |c| {
            let claim = &claim;
            let error = &error;
            c.prepare_cached(
                "UPDATE background_task SET status = 'failed', error = ?3, updated_at = ?4
         WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
            )
            .map_err(backend)?
            .execute(params![
                claim.task.id.as_str(),
                claim.lease_token,
                error,
                to_micros(now)
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn run_usage_batch(&self, step: ReplayStep) -> Result<ReplayProgress, StoreError> {
        task_batches::run_usage_batch(self, step).await
    }

    async fn usage_rows(&self, task_id: &BackgroundTaskId) -> Result<Vec<UsageRow>, StoreError> {
        let task_id = task_id.clone();
        self.read(move |c| task_batches::usage_rows(c, &task_id))
            .await
    }
}

fn app_ids_json(app_ids: Option<&[AppId]>) -> Result<Option<String>, StoreError> {
    app_ids
        .map(|ids| to_json(&ids.iter().map(AppId::as_str).collect::<Vec<_>>()))
        .transpose()
}

/// The task's lease token still holds, and where its cursor stands (`""` before the first
/// batch): `cursor_msg_id` is a replay's message, a purge's message and a usage task's
/// application; `cursor_endpoint_id` only a replay's.
pub(super) fn leased_position(
    c: &Connection,
    step: &ReplayStep,
) -> Result<Option<(String, String)>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT cursor_msg_id, cursor_endpoint_id FROM background_task
             WHERE id = ?1 AND lease_token = ?2 AND status = 'running'",
    )
    .map_err(backend)?
    .query_row(params![step.task_id.as_str(), step.lease_token], |row| {
        Ok((
            row.get::<_, Option<String>>(0)?,
            row.get::<_, Option<String>>(1)?,
        ))
    })
    .optional()
    .map_err(backend)?
    .map(|(msg, endpoint)| (msg.unwrap_or_default(), endpoint.unwrap_or_default())))
}

/// Records one batch: the cursor, the count, the lease, and `finished` when nothing is left.
pub(super) fn record_batch(
    c: &Connection,
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
    c.prepare_cached(
        "UPDATE background_task SET status = ?2, cursor_msg_id = ?3, cursor_endpoint_id = ?4,
         messages_sent = messages_sent + ?5, batches = batches + 1, lease_until = ?6,
         updated_at = ?7 WHERE id = ?1",
    )
    .map_err(backend)?
    .execute(params![
        step.task_id.as_str(),
        status.name(),
        cursor.0,
        cursor.1,
        counted as i64,
        to_micros(step.lease_until),
        to_micros(step.now),
    ])
    .map_err(backend)?;
    Ok(if finished {
        ReplayProgress::Finished(counted)
    } else {
        ReplayProgress::Queued(counted)
    })
}

pub(super) fn find_task(
    c: &Connection,
    id: &BackgroundTaskId,
) -> Result<Option<BackgroundTask>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {TASK_COLUMNS} FROM background_task WHERE id = ?1"
    ))
    .map_err(backend)?
    .query_row(params![id.as_str()], |row| Ok(task_from_row(row)))
    .optional()
    .map_err(backend)?
    .transpose()
}

pub fn run_batch(
    c: &Connection,
    sealing: &Sealing,
    step: &ReplayStep,
) -> Result<ReplayProgress, StoreError> {
    let Some(position) = leased_position(c, step)? else {
        return Ok(ReplayProgress::LeaseLost);
    };
    let Some(task) = find_task(c, &step.task_id)? else {
        return Ok(ReplayProgress::LeaseLost);
    };
    if task.kind == BackgroundTaskKind::PurgeContent {
        return task_batches::run_purge_batch(c, &task, step, position.0);
    }
    let after = Some(position).filter(|(msg, _)| !msg.is_empty());
    let selected = select_pairs(c, sealing, &task.filter, &after, Some(step.limit))?;
    for (msg_id, endpoint_id) in &selected.queue {
        enqueue_resend(
            c,
            &task.filter.app_id,
            &MessageId::from_trusted(msg_id),
            &EndpointId::from_trusted(endpoint_id),
            step.now,
        )?;
    }
    make_due_now(c, &selected.due_now, step.now)?;
    if task.kind == BackgroundTaskKind::EndpointRecover
        && let Some(endpoint_id) = &task.filter.endpoint_id
    {
        // Recovery is the user saying the endpoint works again: stop resting it.
        end_rest(c, endpoint_id.as_str(), step.now)?;
    }
    let sent = selected.queue.len() + selected.due_now.len();
    let finished = selected.scanned < step.limit;
    let cursor = selected.last_scanned.or(after).unwrap_or_default();
    record_batch(c, step, cursor, sent, finished)
}

fn task_from_row(row: &Row<'_>) -> Result<BackgroundTask, StoreError> {
    let read = |row: &Row<'_>| -> rusqlite::Result<_> {
        Ok((
            row.get::<_, String>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, Option<String>>(4)?,
            row.get::<_, Option<String>>(5)?,
            row.get::<_, i64>(6)?,
            row.get::<_, i64>(7)?,
            row.get::<_, Option<i64>>(8)?,
            (
                row.get::<_, i64>(9)?,
                row.get::<_, i64>(10)?,
                row.get::<_, Option<String>>(11)?,
                row.get::<_, i64>(12)?,
                row.get::<_, i64>(13)?,
                row.get::<_, Option<String>>(14)?,
            ),
        ))
    };
    let (id, app_id, kind, status, endpoint_id, event_types, selection, since, until, progress) =
        read(row).map_err(backend)?;
    let (messages_sent, batches, error, created_at, updated_at, app_ids) = progress;
    let unknown = |what: &str| StoreError::Backend(format!("unknown task {what}").into());
    let event_types = event_types
        .map(|text| {
            from_json::<Vec<String>>(&text)?
                .iter()
                .map(|name| EventTypeName::parse(name).map_err(corrupt))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    Ok(BackgroundTask {
        id: BackgroundTaskId::from_trusted(id),
        kind: BackgroundTaskKind::from_name(&kind).ok_or_else(|| unknown("kind"))?,
        status: BackgroundTaskStatus::from_name(&status).ok_or_else(|| unknown("status"))?,
        filter: ReplayFilter {
            app_id: AppId::from_trusted(app_id),
            endpoint_id: endpoint_id.map(EndpointId::from_trusted),
            event_types,
            selection: stored::replay_selection(selection)?,
            since: from_micros(since),
            until: until.map(from_micros),
        },
        app_ids: app_ids
            .map(|text| {
                from_json::<Vec<String>>(&text)
                    .map(|ids| ids.into_iter().map(AppId::from_trusted).collect())
            })
            .transpose()?,
        messages_sent: u64::try_from(messages_sent).unwrap_or(0),
        batches: u64::try_from(batches).unwrap_or(0),
        error,
        created_at: from_micros(created_at),
        updated_at: from_micros(updated_at),
    })
}
