//! SQL for replays on SQLite: a resend, replaying one message to its endpoints, and selecting
//! the message/endpoint pairs a replay filter names (which a replay task's batches walk, see
//! `background_tasks`).
//!
//! A replay never edits old deliveries: every pair it selects gets a new manual delivery
//! (`deliveries::enqueue_resend`, which also ends the endpoint's rest), so attempts already
//! recorded stay as they were. The one exception is recovery's deliveries that are still waiting
//! for a retry: those are made due now instead of being doubled. A pair is
//! judged by its latest delivery (the greatest id, ids being time-ordered). Batches walk the pairs
//! in `(msg_id, endpoint_id)` order past the task's cursor, so a pair is queued at most once per
//! task even when its new delivery finishes while the task is still running.

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::deliveries::enqueue_resend;
use super::endpoints::find_endpoint;
use super::rows::{corrupt, from_json, to_json, to_micros};
use super::{SqliteStore, backend};
use crate::domain::DeliveryTaskState;
use crate::domain::{
    AppId, ChannelName, DeliveryId, EndpointId, EventTypeName, MessageId, PayloadDocument,
    ReplaySelection, Timestamp,
};
use crate::store::sealing::Sealing;
use crate::store::stored;
use crate::store::{ReplayFilter, ReplayStore, StoreError};

/// The last pair a task queued; the next batch starts after it.
pub(super) type PairCursor = Option<(String, String)>;

#[async_trait]
impl ReplayStore for SqliteStore {
    async fn enqueue_resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> Result<DeliveryId, StoreError> {
        let (app_id, msg_id, endpoint_id) = (app_id.clone(), msg_id.clone(), endpoint_id.clone());
        self.write_adding(move |c| {
            enqueue_resend(c, &app_id, &msg_id, &endpoint_id, now)
                .map(|delivery_id| (delivery_id, 1))
        })
        .await
    }

    async fn replay_message(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.write_adding(move |c| {
            replay_message(c, &app_id, &msg_id, now).map(|queued| (queued, queued))
        })
        .await
    }

    async fn count_replay(&self, filter: ReplayFilter) -> Result<u64, StoreError> {
        let sealing = std::sync::Arc::clone(&self.sealing);
        self.read(move |c| {
            let filter = &filter;
            let pairs = select_pairs(c, &sealing, filter, &None, None)?;
            Ok((pairs.queue.len() + pairs.due_now.len()) as u64)
        })
        .await
    }
}

fn replay_message(
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

/// What one pass over the filter found: the pairs to queue, the deliveries waiting for a retry
/// to make due now, and how far it looked (for `NeverQueued`, rows are scanned and then checked
/// against the endpoint's filters, so the scan can be longer than what it queues).
pub(super) struct Selection {
    pub(super) queue: Vec<(String, String)>,
    pub(super) due_now: Vec<String>,
    pub(super) scanned: usize,
    pub(super) last_scanned: PairCursor,
}

/// The pairs the filter selects past `after`, at most `limit` scanned.
pub(super) fn select_pairs(
    c: &Connection,
    sealing: &Sealing,
    filter: &ReplayFilter,
    after: &PairCursor,
    limit: Option<usize>,
) -> Result<Selection, StoreError> {
    if filter.selection == ReplaySelection::NeverQueued {
        return select_never_queued(c, sealing, filter, after, limit);
    }
    let statuses = to_json(&stored::delivery_state_codes(filter.selection))?;
    let sql = format!(
        "SELECT d.msg_id, d.endpoint_id, d.id, d.status FROM delivery d
         JOIN message m ON m.id = d.msg_id
         WHERE m.app_id = ?1 AND d.app_id = ?1 AND m.created_at >= ?2 AND m.payload IS NOT NULL
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
/// endpoint accepts them now (its event types, channels and content filter: a message its
/// filter turned away was not missed). Payloads are read only for an endpoint with a filter.
fn select_never_queued(
    c: &Connection,
    sealing: &Sealing,
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
    let Some(endpoint) = find_endpoint(c, sealing, &filter.app_id, endpoint_id.as_str())? else {
        return Ok(Selection {
            queue: Vec::new(),
            due_now: Vec::new(),
            scanned: 0,
            last_scanned: None,
        });
    };
    let sql = format!(
        "SELECT m.id, m.event_type, m.channels,
                CASE WHEN ?7 THEN m.payload END, m.content_type FROM message m
         WHERE m.app_id = ?1 AND m.created_at >= ?2 AND (?3 IS NULL OR m.created_at < ?3)
           AND m.payload IS NOT NULL
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
                endpoint.fields.filter.is_some(),
            ],
            |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, Option<String>>(4)?,
                ))
            },
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let scanned = rows.len();
    let last_scanned = rows
        .last()
        .map(|(msg_id, ..)| (msg_id.clone(), endpoint_id.to_string()));
    let mut queue = Vec::new();
    for (msg_id, event_type, channels, payload, content_type) in rows {
        let event_type = EventTypeName::parse(&event_type).map_err(corrupt)?;
        let channels: Vec<ChannelName> = from_json(&channels)?;
        let payload = PayloadDocument::stored(payload.as_deref(), content_type.as_deref());
        if endpoint.fields.accepts(&event_type, &channels, &payload) {
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

pub(super) fn event_types_json(filter: &ReplayFilter) -> Result<Option<String>, StoreError> {
    filter
        .event_types
        .as_ref()
        .map(|types| to_json(&types.iter().map(EventTypeName::as_str).collect::<Vec<_>>()))
        .transpose()
}
