//! SQL for replays on PostgreSQL: a resend, replaying one message to its endpoints, and
//! selecting the message/endpoint pairs a replay filter names (which a replay task's batches
//! walk, see `background_tasks`). Mirrors `store/sqlite/replay.rs`.
//!
//! A replay never edits old deliveries: every pair it selects gets a new manual delivery
//! (`deliveries::enqueue_resend`, which also notifies the other nodes and ends the endpoint's
//! rest). The one exception is recovery's deliveries that are still waiting for a retry: those
//! are made due now instead of being doubled. A pair is judged by its latest delivery (the
//! greatest id). Batches walk the pairs in `(msg_id, endpoint_id)` order past the task's cursor.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::deliveries::enqueue_resend;
use super::endpoints::find_endpoint;
use super::rows::{corrupt, to_micros};
use super::{PostgresStore, backend, get};
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
impl ReplayStore for PostgresStore {
    async fn enqueue_resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> Result<DeliveryId, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let delivery_id = enqueue_resend(&transaction, app_id, msg_id, endpoint_id, now).await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(1);
        Ok(delivery_id)
    }

    async fn replay_message(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let queued = replay_message(&transaction, app_id, msg_id, now).await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(queued);
        Ok(queued)
    }

    async fn count_replay(&self, filter: ReplayFilter) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let filter = &filter;
        let selected = select_pairs(c, &self.sealing, filter, &None, None).await?;
        Ok((selected.queue.len() + selected.due_now.len()) as u64)
    }
}

async fn replay_message(
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

/// What one pass over the filter found: the pairs to queue, the deliveries waiting for a retry
/// to make due now, and how far it looked (for `NeverQueued`, rows are scanned and then checked
/// against the endpoint's filters).
pub(super) struct Selection {
    pub(super) queue: Vec<(String, String)>,
    pub(super) due_now: Vec<String>,
    pub(super) scanned: usize,
    pub(super) last_scanned: PairCursor,
}

/// The pairs the filter selects past `after`, at most `limit` scanned.
pub(super) async fn select_pairs(
    c: &impl GenericClient,
    sealing: &Sealing,
    filter: &ReplayFilter,
    after: &PairCursor,
    limit: Option<usize>,
) -> Result<Selection, StoreError> {
    if filter.selection == ReplaySelection::NeverQueued {
        return select_never_queued(c, sealing, filter, after, limit).await;
    }
    let statuses = stored::delivery_state_codes(filter.selection);
    let sql = format!(
        "SELECT d.msg_id, d.endpoint_id, d.id, d.status FROM delivery d
         JOIN message m ON m.id = d.msg_id
         WHERE m.app_id = $1 AND d.app_id = $1 AND m.created_at >= $2 AND m.payload IS NOT NULL
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
/// endpoint accepts them now (its event types, channels and content filter: a message its
/// filter turned away was not missed). Payloads are read only for an endpoint with a filter.
async fn select_never_queued(
    c: &impl GenericClient,
    sealing: &Sealing,
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
    let Some(endpoint) = find_endpoint(c, sealing, &filter.app_id, endpoint_id.as_str()).await?
    else {
        return Ok(nothing);
    };
    let sql = format!(
        "SELECT m.id, m.event_type, m.channels,
                CASE WHEN $7::boolean THEN m.payload END, m.content_type FROM message m
         WHERE m.app_id = $1 AND m.created_at >= $2 AND ($3::bigint IS NULL OR m.created_at < $3)
           AND m.payload IS NOT NULL
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
                &endpoint.fields.filter.is_some(),
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
        let (payload, content_type): (Option<String>, Option<String>) =
            (get(row, 3)?, get(row, 4)?);
        let payload = PayloadDocument::stored(payload.as_deref(), content_type.as_deref());
        if endpoint.fields.accepts(&event_type, &channels, &payload) {
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

pub(super) fn event_type_names(filter: &ReplayFilter) -> Option<Vec<String>> {
    filter
        .event_types
        .as_ref()
        .map(|types| types.iter().map(|name| name.as_str().to_owned()).collect())
}
