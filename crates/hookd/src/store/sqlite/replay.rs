//! SQL for replays and background tasks on SQLite: replaying one message to its endpoints,
//! selecting the message/endpoint pairs a replay filter names, and the `background_task` table
//! (schema_5.sql) with its lease and cursor.
//!
//! A replay never edits old deliveries: every pair it selects gets a new manual delivery
//! (`deliveries::enqueue_resend`, which also ends the endpoint's rest), so attempts already
//! recorded stay as they were. The one exception is recovery's deliveries that are still waiting
//! for a retry: those are made due now instead of being doubled. A pair is
//! judged by its latest delivery (the greatest id, ids being time-ordered). Batches walk the pairs
//! in `(msg_id, endpoint_id)` order past the task's cursor, so a pair is queued at most once per
//! task even when its new delivery finishes while the task is still running.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::backend;
use super::catalog::find_endpoint;
use super::deliveries::{end_rest, enqueue_resend, make_due_now};
use super::rows::{Cursor, corrupt, from_json, from_micros, to_json, to_micros};
use crate::domain::DeliveryTaskState;
use crate::domain::{
    AppId, BackgroundTaskId, BackgroundTaskKind, BackgroundTaskStatus, ChannelName, EndpointId,
    EventTypeName, MessageId, ReplaySelection, Timestamp,
};
use crate::store::stored;
use crate::store::{
    BackgroundTask, ClaimedBackgroundTask, NewBackgroundTask, Page, PageRequest, ReplayFilter,
    ReplayProgress, ReplayStep, StoreError,
};

const TASK_COLUMNS: &str = "id, app_id, kind, status, endpoint_id, event_types, selection, since,
    until, messages_sent, batches, error, created_at, updated_at";

/// The last pair a task queued; the next batch starts after it.
type PairCursor = Option<(String, String)>;

pub fn replay_message(
    c: &Connection,
    app_id: &AppId,
    msg_id: &MessageId,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let endpoint_ids = c
        .prepare_cached(
            "SELECT DISTINCT endpoint_id FROM delivery WHERE app_id = ?1 AND msg_id = ?2
             ORDER BY endpoint_id",
        )
        .map_err(backend)?
        .query_map(params![app_id.as_str(), msg_id.as_str()], |row| {
            row.get::<_, String>(0)
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    for endpoint_id in &endpoint_ids {
        enqueue_resend(
            c,
            app_id,
            msg_id,
            &EndpointId::from_trusted(endpoint_id),
            now,
        )?;
    }
    Ok(endpoint_ids.len())
}

pub fn count_replay(c: &Connection, filter: &ReplayFilter) -> Result<u64, StoreError> {
    let pairs = select_pairs(c, filter, &None, None)?;
    Ok((pairs.queue.len() + pairs.due_now.len()) as u64)
}

pub fn create_task(c: &Connection, task: NewBackgroundTask) -> Result<(), StoreError> {
    let filter = &task.filter;
    c.prepare_cached(
        "INSERT INTO background_task (id, app_id, kind, status, endpoint_id, event_types,
         selection, since, until, created_at, updated_at)
         VALUES (?1, ?2, ?3, 'running', ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
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
    ])
    .map_err(backend)?;
    Ok(())
}

pub fn find_task(
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

pub fn list_tasks(
    c: &Connection,
    status: Option<BackgroundTaskStatus>,
    kind: Option<BackgroundTaskKind>,
    page: &PageRequest,
) -> Result<Page<BackgroundTask>, StoreError> {
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
}

pub fn claim_task(
    c: &Connection,
    now: Timestamp,
    lease_until: Timestamp,
) -> Result<Option<ClaimedBackgroundTask>, StoreError> {
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
    c.prepare_cached("UPDATE background_task SET lease_token = ?2, lease_until = ?3 WHERE id = ?1")
        .map_err(backend)?
        .execute(params![id, lease_token, to_micros(lease_until)])
        .map_err(backend)?;
    let task = find_task(c, &BackgroundTaskId::from_trusted(id))?;
    Ok(task.map(|task| ClaimedBackgroundTask { task, lease_token }))
}

pub fn run_batch(c: &Connection, step: &ReplayStep) -> Result<ReplayProgress, StoreError> {
    let leased: Option<(String, String)> = c
        .prepare_cached(
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
        .map(|(msg, endpoint)| (msg.unwrap_or_default(), endpoint.unwrap_or_default()));
    let Some(position) = leased else {
        return Ok(ReplayProgress::LeaseLost);
    };
    let Some(task) = find_task(c, &step.task_id)? else {
        return Ok(ReplayProgress::LeaseLost);
    };
    let after = Some(position).filter(|(msg, _)| !msg.is_empty());
    let selected = select_pairs(c, &task.filter, &after, Some(step.limit))?;
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
        sent as i64,
        to_micros(step.lease_until),
        to_micros(step.now),
    ])
    .map_err(backend)?;
    Ok(if finished {
        ReplayProgress::Finished(sent)
    } else {
        ReplayProgress::Queued(sent)
    })
}

pub fn fail_task(
    c: &Connection,
    claim: &ClaimedBackgroundTask,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
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
}

/// What one pass over the filter found: the pairs to queue, the deliveries waiting for a retry
/// to make due now, and how far it looked (for `NeverQueued`, rows are scanned and then checked
/// against the endpoint's filters, so the scan can be longer than what it queues).
struct Selection {
    queue: Vec<(String, String)>,
    due_now: Vec<String>,
    scanned: usize,
    last_scanned: PairCursor,
}

/// The pairs the filter selects past `after`, at most `limit` scanned.
fn select_pairs(
    c: &Connection,
    filter: &ReplayFilter,
    after: &PairCursor,
    limit: Option<usize>,
) -> Result<Selection, StoreError> {
    if filter.selection == ReplaySelection::NeverQueued {
        return select_never_queued(c, filter, after, limit);
    }
    let statuses = to_json(&stored::delivery_state_codes(filter.selection))?;
    let sql = format!(
        "SELECT d.msg_id, d.endpoint_id, d.id, d.status FROM delivery d
         JOIN message m ON m.id = d.msg_id
         WHERE m.app_id = ?1 AND d.app_id = ?1 AND m.created_at >= ?2
           AND (?3 IS NULL OR m.created_at < ?3)
           AND (?4 IS NULL OR d.endpoint_id = ?4)
           AND (?5 IS NULL OR m.event_type IN (SELECT value FROM json_each(?5)))
           AND (?6 IS NULL OR (d.msg_id, d.endpoint_id) > (?6, ?7))
           AND d.status IN (SELECT value FROM json_each(?8))
           AND (d.status <> ?9 OR (d.attempts_made > 0 AND d.lease_token IS NULL))
           AND d.id = (SELECT MAX(latest.id) FROM delivery latest
                       WHERE latest.msg_id = d.msg_id AND latest.endpoint_id = d.endpoint_id)
         ORDER BY d.msg_id, d.endpoint_id {}",
        limit_clause(limit)
    );
    let rows = c
        .prepare_cached(&sql)
        .map_err(backend)?
        .query_map(
            params![
                filter.app_id.as_str(),
                to_micros(filter.since),
                filter.until.map(to_micros),
                filter.endpoint_id.as_ref().map(EndpointId::as_str),
                event_types_json(filter)?,
                after.as_ref().map(|(msg, _)| msg.as_str()),
                after.as_ref().map(|(_, endpoint)| endpoint.as_str()),
                statuses,
                stored::delivery_state::PENDING,
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                ))
            },
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let last_scanned = rows
        .last()
        .map(|(msg_id, endpoint_id, _, _)| (msg_id.clone(), endpoint_id.clone()));
    let mut selection = Selection {
        queue: Vec::new(),
        due_now: Vec::new(),
        scanned: rows.len(),
        last_scanned,
    };
    for (msg_id, endpoint_id, delivery_id, status) in rows {
        if stored::delivery_state(status)? == DeliveryTaskState::Pending {
            selection.due_now.push(delivery_id);
        } else {
            selection.queue.push((msg_id, endpoint_id));
        }
    }
    Ok(selection)
}

/// Messages of the window with no delivery at all to the filter's endpoint, kept when the
/// endpoint accepts them now (its event types and channels).
fn select_never_queued(
    c: &Connection,
    filter: &ReplayFilter,
    after: &PairCursor,
    limit: Option<usize>,
) -> Result<Selection, StoreError> {
    let Some(endpoint_id) = &filter.endpoint_id else {
        return Ok(Selection {
            queue: Vec::new(),
            due_now: Vec::new(),
            scanned: 0,
            last_scanned: None,
        });
    };
    let Some(endpoint) = find_endpoint(c, &filter.app_id, endpoint_id.as_str())? else {
        return Ok(Selection {
            queue: Vec::new(),
            due_now: Vec::new(),
            scanned: 0,
            last_scanned: None,
        });
    };
    let sql = format!(
        "SELECT m.id, m.event_type, m.channels FROM message m
         WHERE m.app_id = ?1 AND m.created_at >= ?2 AND (?3 IS NULL OR m.created_at < ?3)
           AND (?4 IS NULL OR m.event_type IN (SELECT value FROM json_each(?4)))
           AND (?5 IS NULL OR m.id > ?5)
           AND NOT EXISTS (SELECT 1 FROM delivery d
                           WHERE d.msg_id = m.id AND d.endpoint_id = ?6)
         ORDER BY m.id {}",
        limit_clause(limit)
    );
    let rows = c
        .prepare_cached(&sql)
        .map_err(backend)?
        .query_map(
            params![
                filter.app_id.as_str(),
                to_micros(filter.since),
                filter.until.map(to_micros),
                event_types_json(filter)?,
                after.as_ref().map(|(msg, _)| msg.as_str()),
                endpoint_id.as_str(),
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                ))
            },
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let scanned = rows.len();
    let last_scanned = rows
        .last()
        .map(|(msg_id, _, _)| (msg_id.clone(), endpoint_id.to_string()));
    let mut queue = Vec::new();
    for (msg_id, event_type, channels) in rows {
        let event_type = EventTypeName::parse(&event_type).map_err(corrupt)?;
        let channels: Vec<ChannelName> = from_json(&channels)?;
        if endpoint.fields.accepts(&event_type, &channels) {
            queue.push((msg_id, endpoint_id.to_string()));
        }
    }
    Ok(Selection {
        queue,
        due_now: Vec::new(),
        scanned,
        last_scanned,
    })
}

fn limit_clause(limit: Option<usize>) -> String {
    limit
        .map(|limit| format!("LIMIT {limit}"))
        .unwrap_or_default()
}

fn event_types_json(filter: &ReplayFilter) -> Result<Option<String>, StoreError> {
    filter
        .event_types
        .as_ref()
        .map(|types| to_json(&types.iter().map(EventTypeName::as_str).collect::<Vec<_>>()))
        .transpose()
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
            ),
        ))
    };
    let (id, app_id, kind, status, endpoint_id, event_types, selection, since, until, progress) =
        read(row).map_err(backend)?;
    let (messages_sent, batches, error, created_at, updated_at) = progress;
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
        messages_sent: u64::try_from(messages_sent).unwrap_or(0),
        batches: u64::try_from(batches).unwrap_or(0),
        error,
        created_at: from_micros(created_at),
        updated_at: from_micros(updated_at),
    })
}
