//! SQL for replays and background tasks on PostgreSQL: replaying one message to its endpoints,
//! selecting the message/endpoint pairs a replay filter names, and the `background_task` table
//! (schema_4.sql) with its lease and cursor. Mirrors `store/sqlite/replay.rs`.
//!
//! A replay never edits old deliveries: every pair it selects gets a new manual delivery
//! (`deliveries::enqueue_resend`, which also notifies the other nodes and ends the endpoint's
//! rest). The one exception is recovery's deliveries that are still waiting for a retry: those
//! are made due now instead of being doubled. A pair is judged by its
//! latest delivery (the greatest id). Batches walk the pairs in `(msg_id, endpoint_id)` order past
//! the task's cursor. Several nodes run task runners: a task is claimed with
//! `FOR UPDATE SKIP LOCKED` and a lease, and every batch locks the task row and checks the
//! lease token, so two nodes never run batches of one task.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::catalog::find_endpoint;
use super::deliveries::{end_rest, enqueue_resend, make_due_now};
use super::rows::{Cursor, Parameters, corrupt, from_micros, to_micros};
use super::{backend, get};
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

pub async fn replay_message(
    c: &impl GenericClient,
    app_id: &AppId,
    msg_id: &MessageId,
    now: Timestamp,
) -> Result<usize, StoreError> {
    let rows = c
        .query(
            "SELECT DISTINCT endpoint_id FROM delivery WHERE app_id = $1 AND msg_id = $2
             ORDER BY endpoint_id",
            &[&app_id.as_str(), &msg_id.as_str()],
        )
        .await
        .map_err(backend)?;
    for row in &rows {
        let endpoint_id = EndpointId::from_trusted(get::<String>(row, 0)?);
        enqueue_resend(c, app_id, msg_id, &endpoint_id, now).await?;
    }
    Ok(rows.len())
}

pub async fn count_replay(
    c: &impl GenericClient,
    filter: &ReplayFilter,
) -> Result<u64, StoreError> {
    let selected = select_pairs(c, filter, &None, None).await?;
    Ok((selected.queue.len() + selected.due_now.len()) as u64)
}

pub async fn create_task(
    c: &impl GenericClient,
    task: NewBackgroundTask,
) -> Result<(), StoreError> {
    let filter = &task.filter;
    c.execute(
        "INSERT INTO background_task (id, app_id, kind, status, endpoint_id, event_types,
         selection, since, until, created_at, updated_at)
         VALUES ($1, $2, $3, 'running', $4, $5, $6, $7, $8, $9, $9)",
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
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

pub async fn find_task(
    c: &impl GenericClient,
    id: &BackgroundTaskId,
) -> Result<Option<BackgroundTask>, StoreError> {
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

pub async fn list_tasks(
    c: &impl GenericClient,
    status: Option<BackgroundTaskStatus>,
    kind: Option<BackgroundTaskKind>,
    page: &PageRequest,
) -> Result<Page<BackgroundTask>, StoreError> {
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

/// Claims in the caller's transaction.
pub async fn claim_task(
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
pub async fn run_batch(
    c: &impl GenericClient,
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
    let after: PairCursor = match (
        get::<Option<String>>(&row, 14)?,
        get::<Option<String>>(&row, 15)?,
    ) {
        (Some(msg_id), Some(endpoint_id)) => Some((msg_id, endpoint_id)),
        _ => None,
    };
    let selected = select_pairs(c, &task.filter, &after, Some(step.limit)).await?;
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
    let cursor = selected.last_scanned.or(after);
    let status = if finished {
        BackgroundTaskStatus::Finished
    } else {
        BackgroundTaskStatus::Running
    };
    let queued = selected.queue.len() + selected.due_now.len();
    c.execute(
        "UPDATE background_task SET status = $2, cursor_msg_id = $3, cursor_endpoint_id = $4,
         messages_sent = messages_sent + $5, batches = batches + 1, lease_until = $6,
         updated_at = $7 WHERE id = $1",
        &[
            &step.task_id.as_str(),
            &status.name(),
            &cursor.as_ref().map(|(msg_id, _)| msg_id.as_str()),
            &cursor.as_ref().map(|(_, endpoint_id)| endpoint_id.as_str()),
            &(queued as i64),
            &to_micros(step.lease_until),
            &to_micros(step.now),
        ],
    )
    .await
    .map_err(backend)?;
    Ok(if finished {
        ReplayProgress::Finished(queued)
    } else {
        ReplayProgress::Queued(queued)
    })
}

pub async fn fail_task(
    c: &impl GenericClient,
    claim: &ClaimedBackgroundTask,
    error: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
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

/// What one pass over the filter found: the pairs to queue, the deliveries waiting for a retry
/// to make due now, and how far it looked (for `NeverQueued`, rows are scanned and then checked
/// against the endpoint's filters).
struct Selection {
    queue: Vec<(String, String)>,
    due_now: Vec<String>,
    scanned: usize,
    last_scanned: PairCursor,
}

/// The pairs the filter selects past `after`, at most `limit` scanned.
async fn select_pairs(
    c: &impl GenericClient,
    filter: &ReplayFilter,
    after: &PairCursor,
    limit: Option<usize>,
) -> Result<Selection, StoreError> {
    if filter.selection == ReplaySelection::NeverQueued {
        return select_never_queued(c, filter, after, limit).await;
    }
    let statuses = stored::delivery_state_codes(filter.selection);
    let sql = format!(
        "SELECT d.msg_id, d.endpoint_id, d.id, d.status FROM delivery d
         JOIN message m ON m.id = d.msg_id
         WHERE m.app_id = $1 AND d.app_id = $1 AND m.created_at >= $2
           AND ($3::bigint IS NULL OR m.created_at < $3)
           AND ($4::text IS NULL OR d.endpoint_id = $4)
           AND ($5::text[] IS NULL OR m.event_type = ANY($5))
           AND ($6::text IS NULL OR (d.msg_id, d.endpoint_id) > ($6, $7::text))
           AND d.status = ANY($8)
           AND (d.status <> 1 OR (d.attempts_made > 0 AND d.lease_token IS NULL))
           AND d.id = (SELECT MAX(latest.id) FROM delivery latest
                       WHERE latest.msg_id = d.msg_id AND latest.endpoint_id = d.endpoint_id)
         ORDER BY d.msg_id, d.endpoint_id {}",
        limit_clause(limit)
    );
    let rows = c
        .query(
            &sql,
            &[
                &filter.app_id.as_str(),
                &to_micros(filter.since),
                &filter.until.map(to_micros),
                &filter.endpoint_id.as_ref().map(EndpointId::as_str),
                &event_type_names(filter),
                &after.as_ref().map(|(msg_id, _)| msg_id.as_str()),
                &after.as_ref().map(|(_, endpoint_id)| endpoint_id.as_str()),
                &statuses,
            ],
        )
        .await
        .map_err(backend)?;
    let mut selection = Selection {
        queue: Vec::new(),
        due_now: Vec::new(),
        scanned: rows.len(),
        last_scanned: None,
    };
    for row in &rows {
        let pair = (get::<String>(row, 0)?, get::<String>(row, 1)?);
        if stored::delivery_state(i64::from(get::<i16>(row, 3)?))? == DeliveryTaskState::Pending {
            selection.due_now.push(get(row, 2)?);
        } else {
            selection.queue.push(pair.clone());
        }
        selection.last_scanned = Some(pair);
    }
    Ok(selection)
}

/// Messages of the window with no delivery at all to the filter's endpoint, kept when the
/// endpoint accepts them now (its event types and channels).
async fn select_never_queued(
    c: &impl GenericClient,
    filter: &ReplayFilter,
    after: &PairCursor,
    limit: Option<usize>,
) -> Result<Selection, StoreError> {
    let nothing = Selection {
        queue: Vec::new(),
        due_now: Vec::new(),
        scanned: 0,
        last_scanned: None,
    };
    let Some(endpoint_id) = &filter.endpoint_id else {
        return Ok(nothing);
    };
    let Some(endpoint) = find_endpoint(c, &filter.app_id, endpoint_id.as_str()).await? else {
        return Ok(nothing);
    };
    let sql = format!(
        "SELECT m.id, m.event_type, m.channels FROM message m
         WHERE m.app_id = $1 AND m.created_at >= $2 AND ($3::bigint IS NULL OR m.created_at < $3)
           AND ($4::text[] IS NULL OR m.event_type = ANY($4))
           AND ($5::text IS NULL OR m.id > $5)
           AND NOT EXISTS (SELECT 1 FROM delivery d
                           WHERE d.msg_id = m.id AND d.endpoint_id = $6)
         ORDER BY m.id {}",
        limit_clause(limit)
    );
    let rows = c
        .query(
            &sql,
            &[
                &filter.app_id.as_str(),
                &to_micros(filter.since),
                &filter.until.map(to_micros),
                &event_type_names(filter),
                &after.as_ref().map(|(msg_id, _)| msg_id.as_str()),
                &endpoint_id.as_str(),
            ],
        )
        .await
        .map_err(backend)?;
    let mut queue = Vec::new();
    let mut last_scanned = None;
    for row in &rows {
        let msg_id: String = get(row, 0)?;
        let event_type = EventTypeName::parse(&get::<String>(row, 1)?).map_err(corrupt)?;
        let channels = get::<Vec<String>>(row, 2)?
            .iter()
            .map(|channel| ChannelName::parse(channel))
            .collect::<Result<Vec<_>, _>>()
            .map_err(corrupt)?;
        last_scanned = Some((msg_id.clone(), endpoint_id.to_string()));
        if endpoint.fields.accepts(&event_type, &channels) {
            queue.push((msg_id, endpoint_id.to_string()));
        }
    }
    Ok(Selection {
        queue,
        due_now: Vec::new(),
        scanned: rows.len(),
        last_scanned,
    })
}

fn limit_clause(limit: Option<usize>) -> String {
    limit
        .map(|limit| format!("LIMIT {limit}"))
        .unwrap_or_default()
}

fn event_type_names(filter: &ReplayFilter) -> Option<Vec<String>> {
    filter
        .event_types
        .as_ref()
        .map(|types| types.iter().map(|name| name.as_str().to_owned()).collect())
}

fn task_from_row(row: &Row) -> Result<BackgroundTask, StoreError> {
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
        messages_sent: u64::try_from(get::<i64>(row, 9)?).unwrap_or(0),
        batches: u64::try_from(get::<i64>(row, 10)?).unwrap_or(0),
        error: get(row, 11)?,
        created_at: from_micros(get(row, 12)?),
        updated_at: from_micros(get(row, 13)?),
    })
}
