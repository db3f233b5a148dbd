//! SQL for the delivery-log views on PostgreSQL: a message's destinations, the dead-letter view,
//! and per-endpoint statistics. The same rules as the SQLite backend: the latest delivery of a
//! message/endpoint pair (no newer id) decides its state.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{Cursor, Parameters, corrupt, from_micros, limit_of, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::{
    AppId, DeliveryId, DeliveryStatus, DeliveryTaskState, EndpointId, EventTypeName, MessageId,
    Timestamp,
};
use crate::store::logs::{
    AttemptSample, DeadLetter, DeadLetterFilter, DeadLetterGroup, DeliveryCounts, DeliveryState,
    Destination, MAX_ATTEMPT_SAMPLES,
};
use crate::store::stored;
use crate::store::{LogStore, Page, PageRequest, StoreError};

/// True when no newer delivery exists for the same message and endpoint as `d`.
const LATEST_OF_PAIR: &str = "NOT EXISTS (SELECT 1 FROM delivery newer \
     WHERE newer.msg_id = d.msg_id AND newer.endpoint_id = d.endpoint_id AND newer.id > d.id)";

#[async_trait]
impl LogStore for PostgresStore {
    async fn list_message_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: PageRequest,
    ) -> Result<Page<Destination>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let page = &page;
        let mut parameters = Parameters::default();
        let app = parameters.push(app_id.to_string());
        let msg = parameters.push(msg_id.to_string());
        let cursor = Cursor::new("d.endpoint_id", page, &mut parameters);
        let sql = format!(
            "SELECT d.endpoint_id, d.status, d.lease_token IS NOT NULL, d.next_attempt_at
         FROM delivery d WHERE d.app_id = {app} AND d.msg_id = {msg} AND {LATEST_OF_PAIR}
         {} {} LIMIT {}",
            cursor.condition, cursor.order_by, cursor.fetch
        );
        let rows = c
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                let state = DeliveryState::from_stored(
                    stored::delivery_state(i64::from(get::<i16>(row, 1)?))?,
                    get::<bool>(row, 2)?,
                );
                Ok(Destination {
                    endpoint_id: EndpointId::from_trusted(get::<String>(row, 0)?),
                    state,
                    next_attempt_at: matches!(
                        state,
                        DeliveryState::Pending | DeliveryState::Sending
                    )
                    .then(|| get::<i64>(row, 3).map(from_micros))
                    .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(cursor.page(rows, |destination| destination.endpoint_id.to_string()))
    }

    async fn list_dead_letters(
        &self,
        app_id: &AppId,
        filter: DeadLetterFilter,
        page: PageRequest,
    ) -> Result<Page<DeadLetter>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let filter = &filter;
        let page = &page;
        let mut parameters = Parameters::default();
        let conditions = dead_letter_conditions(&mut parameters, app_id, filter);
        let cursor = Cursor::new("d.id", page, &mut parameters);
        let sql = format!(
            "SELECT d.id, d.msg_id, d.endpoint_id, m.event_type, d.status, d.attempts_made,
                m.created_at,
                (SELECT MAX(a.created_at) FROM attempt a
                 WHERE a.msg_id = d.msg_id AND a.endpoint_id = d.endpoint_id)
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE {conditions} {} {} LIMIT {}",
            cursor.condition, cursor.order_by, cursor.fetch
        );
        let rows = c
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(dead_letter_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursor.page(rows, |letter| letter.delivery_id.to_string()))
    }

    async fn count_dead_letters(&self, app_id: &AppId) -> Result<Vec<DeadLetterGroup>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let mut parameters = Parameters::default();
        let conditions =
            dead_letter_conditions(&mut parameters, app_id, &DeadLetterFilter::default());
        let sql = format!(
            "SELECT d.endpoint_id, m.event_type, d.status = 9, COUNT(*)
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE {conditions} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
        );
        c.query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                let event_type: String = get(row, 1)?;
                Ok(DeadLetterGroup {
                    endpoint_id: EndpointId::from_trusted(get::<String>(row, 0)?),
                    event_type: EventTypeName::parse(&event_type).map_err(corrupt)?,
                    parked: get(row, 2)?,
                    count: u64::try_from(get::<i64>(row, 3)?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn count_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<DeliveryCounts, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let mut parameters = Parameters::default();
        let endpoint = parameters.push(endpoint_id.to_string());
        let mut sql = format!(
            "SELECT d.status, d.lease_token IS NOT NULL, COUNT(*)
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.endpoint_id = {endpoint} AND {LATEST_OF_PAIR}"
        );
        if let Some(since) = since {
            let since = parameters.push(to_micros(since));
            sql.push_str(&format!(" AND m.created_at >= {since}"));
        }
        if let Some(until) = until {
            let until = parameters.push(to_micros(until));
            sql.push_str(&format!(" AND m.created_at < {until}"));
        }
        sql.push_str(" GROUP BY 1, 2");
        let mut counts = DeliveryCounts::default();
        for row in c
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
        {
            let state = DeliveryState::from_stored(
                stored::delivery_state(i64::from(get::<i16>(&row, 0)?))?,
                get(&row, 1)?,
            );
            counts.add(state, u64::try_from(get::<i64>(&row, 2)?).unwrap_or(0));
        }
        Ok(counts)
    }

    async fn sample_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        since: Timestamp,
    ) -> Result<Vec<AttemptSample>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        c.query(
            "SELECT created_at, status, response_duration_ms FROM attempt
         WHERE endpoint_id = $1 AND created_at >= $2 ORDER BY created_at LIMIT $3",
            &[
                &endpoint_id.as_str(),
                &to_micros(since),
                &limit_of(MAX_ATTEMPT_SAMPLES),
            ],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            Ok(AttemptSample {
                created_at: from_micros(get(row, 0)?),
                success: get::<i16>(row, 1)? == DeliveryStatus::Success as i16,
                duration_ms: u64::try_from(get::<i64>(row, 2)?).unwrap_or(0),
            })
        })
        .collect()
    }
}

/// The `WHERE` clause (after `WHERE`) selecting an application's dead letters.
fn dead_letter_conditions(
    parameters: &mut Parameters,
    app_id: &AppId,
    filter: &DeadLetterFilter,
) -> String {
    let app = parameters.push(app_id.to_string());
    let mut sql = format!("d.app_id = {app} AND d.status IN (2, 9) AND {LATEST_OF_PAIR}");
    if let Some(endpoint_id) = &filter.endpoint_id {
        let endpoint = parameters.push(endpoint_id.to_string());
        sql.push_str(&format!(" AND d.endpoint_id = {endpoint}"));
    }
    if let Some(event_types) = filter
        .event_types
        .as_ref()
        .filter(|types| !types.is_empty())
    {
        let names: Vec<String> = event_types
            .iter()
            .map(|name| name.as_str().to_owned())
            .collect();
        let names = parameters.push(names);
        sql.push_str(&format!(" AND m.event_type = ANY({names})"));
    }
    if let Some(before) = filter.before {
        let before = parameters.push(to_micros(before));
        sql.push_str(&format!(" AND m.created_at < {before}"));
    }
    if let Some(after) = filter.after {
        let after = parameters.push(to_micros(after));
        sql.push_str(&format!(" AND m.created_at > {after}"));
    }
    sql
}

fn dead_letter_from_row(row: &Row) -> Result<DeadLetter, StoreError> {
    let event_type: String = get(row, 3)?;
    Ok(DeadLetter {
        delivery_id: DeliveryId::from_trusted(get::<String>(row, 0)?),
        msg_id: MessageId::from_trusted(get::<String>(row, 1)?),
        endpoint_id: EndpointId::from_trusted(get::<String>(row, 2)?),
        event_type: EventTypeName::parse(&event_type).map_err(corrupt)?,
        parked: stored::delivery_state(i64::from(get::<i16>(row, 4)?))?
            == DeliveryTaskState::Parked,
        attempts_made: u32::try_from(get::<i32>(row, 5)?).unwrap_or(0),
        message_created_at: from_micros(get(row, 6)?),
        last_attempt_at: get::<Option<i64>>(row, 7)?.map(from_micros),
    })
}
