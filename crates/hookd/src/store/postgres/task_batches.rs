//! SQL for the batches of the tasks that queue nothing on PostgreSQL: expunging every payload
//! of an application (`application.purge_content`) and the usage statistics
//! (`application.stats`, `event-type.aggregate`). Each batch runs in one transaction that
//! holds the task row locked and checks its lease token, as a replay batch does, so two nodes
//! never run batches of one task.

use deadpool_postgres::GenericClient;

use super::background_tasks::{TASK_COLUMNS, record_batch, task_from_row};
use super::retention::expunge_named_message;
use super::rows::{corrupt, from_json, limit_of, to_micros};
use super::{backend, get};
use crate::domain::inbound::SOURCE_APP_PREFIX;
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{AppId, BackgroundTaskId, BackgroundTaskKind, EventTypeName};
use crate::store::{BackgroundTask, ReplayProgress, ReplayStep, StoreError, UsageRow};

/// Removes the payloads of the application's next `step.limit` messages by id after `after`
/// in the caller's transaction, as `expunge_message_content` does; counts the payloads removed.
pub(super) async fn run_purge_batch(
    c: &impl GenericClient,
    task: &BackgroundTask,
    step: &ReplayStep,
    after: String,
) -> Result<ReplayProgress, StoreError> {
    let batch = c
        .query(
            "SELECT id, payload IS NOT NULL FROM message WHERE app_id = $1 AND id > $2
             ORDER BY id LIMIT $3",
            &[&task.filter.app_id.as_str(), &after, &limit_of(step.limit)],
        )
        .await
        .map_err(backend)?;
    let mut purged = 0;
    let mut last = after;
    for row in &batch {
        let msg_id: String = get(row, 0)?;
        if get::<bool>(row, 1)? {
            expunge_named_message(c, &task.filter.app_id, &msg_id).await?;
            purged += 1;
        }
        last = msg_id;
    }
    let finished = batch.len() < step.limit;
    record_batch(c, step, (last, String::new()), purged, finished).await
}

/// Counts the next `step.limit` user applications after the cursor and stores their rows.
pub(super) async fn run_usage_batch(
    c: &impl GenericClient,
    step: &ReplayStep,
) -> Result<ReplayProgress, StoreError> {
    let leased = c
        .query_opt(
            &format!(
                "SELECT {TASK_COLUMNS}, cursor_msg_id FROM background_task
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
    let after = get::<Option<String>>(&row, 15)?.unwrap_or_default();
    let wanted: Option<Vec<String>> = task
        .app_ids
        .as_ref()
        .map(|ids| ids.iter().map(AppId::to_string).collect());
    let apps = c
        .query(
            "SELECT id, uid FROM application WHERE id > $1 AND id <> $2
             AND NOT starts_with(id, $3) AND ($4::text[] IS NULL OR id = ANY($4))
             ORDER BY id LIMIT $5",
            &[
                &after,
                &OPERATIONAL_APP_ID,
                &SOURCE_APP_PREFIX,
                &wanted,
                &limit_of(step.limit),
            ],
        )
        .await
        .map_err(backend)?;
    let mut counted = 0;
    let mut last = after;
    for app in &apps {
        let app_id: String = get(app, 0)?;
        let app_uid: Option<String> = get(app, 1)?;
        let usage = match task.kind {
            BackgroundTaskKind::EventTypeAggregate => UsageRow::of_endpoint_filters(
                AppId::from_trusted(app_id.as_str()),
                app_uid,
                endpoint_filters(c, &app_id).await?,
            ),
            _ => UsageRow {
                message_destinations: message_destinations(c, &task, &app_id).await?,
                app_id: AppId::from_trusted(app_id.as_str()),
                app_uid,
                event_types: Vec::new(),
                has_catch_all: false,
            },
        };
        insert_row(c, &step.task_id, &usage).await?;
        counted += 1;
        last = app_id;
    }
    let finished = apps.len() < step.limit;
    record_batch(c, step, (last, String::new()), counted, finished).await
}

async fn insert_row(
    c: &impl GenericClient,
    task_id: &BackgroundTaskId,
    usage: &UsageRow,
) -> Result<(), StoreError> {
    let event_types: Vec<&str> = usage
        .event_types
        .iter()
        .map(EventTypeName::as_str)
        .collect();
    c.execute(
        "INSERT INTO usage_stat_row (task_id, app_id, app_uid, message_destinations,
         event_types, has_catch_all) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (task_id, app_id) DO UPDATE SET app_uid = excluded.app_uid,
         message_destinations = excluded.message_destinations,
         event_types = excluded.event_types, has_catch_all = excluded.has_catch_all",
        &[
            &task_id.as_str(),
            &usage.app_id.as_str(),
            &usage.app_uid,
            &i64::try_from(usage.message_destinations).unwrap_or(i64::MAX),
            &event_types,
            &usage.has_catch_all,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// The message/endpoint pairs of the application's messages created in the task's window.
async fn message_destinations(
    c: &impl GenericClient,
    task: &BackgroundTask,
    app_id: &str,
) -> Result<u64, StoreError> {
    let row = c
        .query_one(
            "SELECT COUNT(*) FROM (SELECT DISTINCT delivery.msg_id, delivery.endpoint_id
             FROM message JOIN delivery ON delivery.msg_id = message.id
             WHERE message.app_id = $1 AND message.created_at >= $2
             AND ($3::bigint IS NULL OR message.created_at < $3)) AS pairs",
            &[
                &app_id,
                &to_micros(task.filter.since),
                &task.filter.until.map(to_micros),
            ],
        )
        .await
        .map_err(backend)?;
    Ok(u64::try_from(get::<i64>(&row, 0)?).unwrap_or(0))
}

async fn endpoint_filters(
    c: &impl GenericClient,
    app_id: &str,
) -> Result<Vec<Option<Vec<EventTypeName>>>, StoreError> {
    let rows = c
        .query(
            "SELECT event_types FROM endpoint WHERE app_id = $1",
            &[&app_id],
        )
        .await
        .map_err(backend)?;
    // An endpoint's filter is stored as JSON text, as its other reads parse it.
    rows.iter()
        .map(|row| {
            get::<Option<String>>(row, 0)?
                .as_deref()
                .map(from_json)
                .transpose()
        })
        .collect()
}

/// A usage task's rows, by application id.
pub(super) async fn usage_rows(
    c: &impl GenericClient,
    task_id: &BackgroundTaskId,
) -> Result<Vec<UsageRow>, StoreError> {
    let rows = c
        .query(
            "SELECT app_id, app_uid, message_destinations, event_types, has_catch_all
             FROM usage_stat_row WHERE task_id = $1 ORDER BY app_id",
            &[&task_id.as_str()],
        )
        .await
        .map_err(backend)?;
    rows.iter()
        .map(|row| {
            Ok(UsageRow {
                app_id: AppId::from_trusted(get::<String>(row, 0)?),
                app_uid: get(row, 1)?,
                message_destinations: u64::try_from(get::<i64>(row, 2)?).unwrap_or(0),
                event_types: get::<Vec<String>>(row, 3)?
                    .iter()
                    .map(|name| EventTypeName::parse(name).map_err(corrupt))
                    .collect::<Result<_, _>>()?,
                has_catch_all: get(row, 4)?,
            })
        })
        .collect()
}
