//! SQL for the batches of the tasks that queue nothing on SQLite: expunging every payload of an
//! application (`application.purge_content`) and the usage statistics (`application.stats`,
//! `event-type.aggregate`).
//!
//! A purge batch runs on the writer (it updates at most one batch of messages, chosen by id
//! from the application's index). A usage batch counts on a reader and then hands the writer
//! only its rows, with a compare-and-set on the task's cursor, so counting a large
//! application's deliveries never holds the single writer.

use rusqlite::{Connection, params};

use super::background_tasks::{find_task, leased_position, record_batch};
use super::retention::expunge_named_message;
use super::rows::{from_json, to_json, to_micros};
use super::{SqliteStore, backend};
use crate::domain::inbound::SOURCE_APP_PREFIX;
use crate::domain::operational::OPERATIONAL_APP_ID;
use crate::domain::{AppId, BackgroundTaskId, BackgroundTaskKind, EventTypeName};
use crate::store::{BackgroundTask, ReplayProgress, ReplayStep, StoreError, UsageRow};

/// Removes the payloads of the application's next `step.limit` messages by id after
/// `after`, as `expunge_message_content` does; counts the payloads removed.
pub(super) fn run_purge_batch(
    c: &Connection,
    task: &BackgroundTask,
    step: &ReplayStep,
    after: String,
) -> Result<ReplayProgress, StoreError> {
    let limit = i64::try_from(step.limit).unwrap_or(i64::MAX);
    let batch: Vec<(String, bool)> = c
        .prepare_cached(
            "SELECT id, payload IS NOT NULL FROM message WHERE app_id = ?1 AND id > ?2
             ORDER BY id LIMIT ?3",
        )
        .map_err(backend)?
        .query_map(params![task.filter.app_id.as_str(), after, limit], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    let mut purged = 0;
    for (msg_id, has_payload) in &batch {
        if *has_payload {
            expunge_named_message(c, &task.filter.app_id, msg_id)?;
            purged += 1;
        }
    }
    let finished = batch.len() < step.limit;
    let cursor = batch.last().map(|(id, _)| id.clone()).unwrap_or(after);
    record_batch(c, step, (cursor, String::new()), purged, finished)
}

/// Counts the next applications on a reader, then stores their rows if the task's cursor has
/// not moved meanwhile (another runner took over: its rows win and this batch is dropped).
pub(super) async fn run_usage_batch(
    store: &SqliteStore,
    step: ReplayStep,
) -> Result<ReplayProgress, StoreError> {
    let counting = step.clone();
    let counted = store
        .read(move |c| {
            let Some((after, _)) = leased_position(c, &counting)? else {
                return Ok(None);
            };
            let Some(task) = find_task(c, &counting.task_id)? else {
                return Ok(None);
            };
            let rows = count_usage(c, &task, &after, counting.limit)?;
            Ok(Some((after, rows)))
        })
        .await?;
    let Some((after, rows)) = counted else {
        return Ok(ReplayProgress::LeaseLost);
    };
    store
        .write(move |c| {
            match leased_position(c, &step)? {
                Some((cursor, _)) if cursor == after => {}
                _ => return Ok(ReplayProgress::LeaseLost),
            }
            let mut insert = c
                .prepare_cached(
                    "INSERT OR REPLACE INTO usage_stat_row (task_id, app_id, app_uid,
                     message_destinations, event_types, has_catch_all)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(backend)?;
            for row in &rows {
                let event_types: Vec<&str> =
                    row.event_types.iter().map(EventTypeName::as_str).collect();
                insert
                    .execute(params![
                        step.task_id.as_str(),
                        row.app_id.as_str(),
                        row.app_uid,
                        i64::try_from(row.message_destinations).unwrap_or(i64::MAX),
                        to_json(&event_types)?,
                        row.has_catch_all,
                    ])
                    .map_err(backend)?;
            }
            let finished = rows.len() < step.limit;
            let cursor = rows
                .last()
                .map(|row| row.app_id.to_string())
                .unwrap_or(after.clone());
            record_batch(c, &step, (cursor, String::new()), rows.len(), finished)
        })
        .await
}

/// The rows of the next `limit` user applications by id after `after` (the operational
/// application and the inbound sources' own are not users').
fn count_usage(
    c: &Connection,
    task: &BackgroundTask,
    after: &str,
    limit: usize,
) -> Result<Vec<UsageRow>, StoreError> {
    let wanted = task
        .app_ids
        .as_ref()
        .map(|ids| to_json(&ids.iter().map(AppId::as_str).collect::<Vec<_>>()))
        .transpose()?;
    let apps: Vec<(String, Option<String>)> = c
        .prepare_cached(
            "SELECT id, uid FROM application WHERE id > ?1 AND id <> ?2
             AND substr(id, 1, length(?3)) <> ?3
             AND (?4 IS NULL OR id IN (SELECT value FROM json_each(?4)))
             ORDER BY id LIMIT ?5",
        )
        .map_err(backend)?
        .query_map(
            params![
                after,
                OPERATIONAL_APP_ID,
                SOURCE_APP_PREFIX,
                wanted,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    apps.into_iter()
        .map(|(app_id, app_uid)| match task.kind {
            BackgroundTaskKind::EventTypeAggregate => {
                let filters = endpoint_filters(c, &app_id)?;
                Ok(UsageRow::of_endpoint_filters(
                    AppId::from_trusted(app_id),
                    app_uid,
                    filters,
                ))
            }
            _ => Ok(UsageRow {
                message_destinations: message_destinations(c, task, &app_id)?,
                app_id: AppId::from_trusted(app_id),
                app_uid,
                event_types: Vec::new(),
                has_catch_all: false,
            }),
        })
        .collect()
}

/// The message/endpoint pairs of the application's messages created in the task's window.
fn message_destinations(
    c: &Connection,
    task: &BackgroundTask,
    app_id: &str,
) -> Result<u64, StoreError> {
    let count: i64 = c
        .prepare_cached(
            "SELECT COUNT(*) FROM (SELECT DISTINCT delivery.msg_id, delivery.endpoint_id
             FROM message JOIN delivery ON delivery.msg_id = message.id
             WHERE message.app_id = ?1 AND message.created_at >= ?2
             AND (?3 IS NULL OR message.created_at < ?3))",
        )
        .map_err(backend)?
        .query_row(
            params![
                app_id,
                to_micros(task.filter.since),
                task.filter.until.map(to_micros)
            ],
            |row| row.get(0),
        )
        .map_err(backend)?;
    Ok(u64::try_from(count).unwrap_or(0))
}

fn endpoint_filters(
    c: &Connection,
    app_id: &str,
) -> Result<Vec<Option<Vec<EventTypeName>>>, StoreError> {
    let texts: Vec<Option<String>> = c
        .prepare_cached("SELECT event_types FROM endpoint WHERE app_id = ?1")
        .map_err(backend)?
        .query_map([app_id], |row| row.get(0))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    texts
        .into_iter()
        .map(|text| text.as_deref().map(from_json).transpose())
        .collect()
}

/// A usage task's rows, by application id.
pub(super) fn usage_rows(
    c: &Connection,
    task_id: &BackgroundTaskId,
) -> Result<Vec<UsageRow>, StoreError> {
    let rows: Vec<(String, Option<String>, i64, String, bool)> = c
        .prepare_cached(
            "SELECT app_id, app_uid, message_destinations, event_types, has_catch_all
             FROM usage_stat_row WHERE task_id = ?1 ORDER BY app_id",
        )
        .map_err(backend)?
        .query_map([task_id.as_str()], |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                row.get(3)?,
                row.get(4)?,
            ))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(
            |(app_id, app_uid, destinations, event_types, has_catch_all)| {
                Ok(UsageRow {
                    app_id: AppId::from_trusted(app_id),
                    app_uid,
                    message_destinations: u64::try_from(destinations).unwrap_or(0),
                    event_types: from_json(&event_types)?,
                    has_catch_all,
                })
            },
        )
        .collect()
}
