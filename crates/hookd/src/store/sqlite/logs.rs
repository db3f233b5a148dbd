//! SQL for the delivery-log views on SQLite: a message's destinations, the dead-letter view, and
//! per-endpoint statistics.
//!
//! "Latest delivery of a pair" is the delivery with no newer one (a larger, time-ordered id) for
//! the same message and endpoint; resends add deliveries, and the newest decides.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{params, params_from_iter};

use super::rows::{Cursor, corrupt, from_micros, to_micros};
use super::{SqliteStore, backend};
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
impl LogStore for SqliteStore {
    async fn list_message_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: PageRequest,
    ) -> Result<Page<Destination>, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.read(move |c| {
            let app_id = &app_id;
            let msg_id = &msg_id;
            let page = &page;
            let cursor = Cursor::new("d.endpoint_id", page);
            let sql = format!(
                "SELECT d.endpoint_id, d.status, d.lease_token IS NOT NULL, d.next_attempt_at
         FROM delivery d WHERE d.app_id = ? AND d.msg_id = ? AND {LATEST_OF_PAIR} {} {} LIMIT {}",
                cursor.condition, cursor.order_by, cursor.fetch
            );
            let parameters = [
                Value::Text(app_id.to_string()),
                Value::Text(msg_id.to_string()),
            ]
            .into_iter()
            .chain(cursor.parameter.clone());
            let rows = c
                .prepare(&sql)
                .map_err(backend)?
                .query_map(params_from_iter(parameters), |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, i64>(1)?,
                        row.get::<_, bool>(2)?,
                        row.get::<_, Option<i64>>(3)?,
                    ))
                })
                .map_err(backend)?
                .map(|row| {
                    let (endpoint_id, status, leased, next_attempt_at) = row.map_err(backend)?;
                    let state = DeliveryState::from_stored(stored::delivery_state(status)?, leased);
                    Ok(Destination {
                        endpoint_id: EndpointId::from_trusted(endpoint_id),
                        state,
                        next_attempt_at: next_attempt_at
                            .filter(|_| {
                                matches!(state, DeliveryState::Pending | DeliveryState::Sending)
                            })
                            .map(from_micros),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(cursor.page(rows, |destination| destination.endpoint_id.to_string()))
        })
        .await
    }

    async fn list_dead_letters(
        &self,
        app_id: &AppId,
        filter: DeadLetterFilter,
        page: PageRequest,
    ) -> Result<Page<DeadLetter>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| {
            let app_id = &app_id;
            let filter = &filter;
            let page = &page;
            let (conditions, parameters) = dead_letter_conditions(app_id, filter);
            let cursor = Cursor::new("d.id", page);
            let sql = format!(
                "SELECT d.id, d.msg_id, d.endpoint_id, m.event_type, d.status, d.attempts_made,
                m.created_at,
                (SELECT MAX(a.created_at) FROM attempt a
                 WHERE a.msg_id = d.msg_id AND a.endpoint_id = d.endpoint_id)
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE {conditions} {} {} LIMIT {}",
                cursor.condition, cursor.order_by, cursor.fetch
            );
            let parameters = parameters.into_iter().chain(cursor.parameter.clone());
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), |row| {
                    let event_type: String = row.get(3)?;
                    Ok((|| {
                        Ok(DeadLetter {
                            delivery_id: DeliveryId::from_trusted(
                                row.get::<_, String>(0).map_err(backend)?,
                            ),
                            msg_id: MessageId::from_trusted(
                                row.get::<_, String>(1).map_err(backend)?,
                            ),
                            endpoint_id: EndpointId::from_trusted(
                                row.get::<_, String>(2).map_err(backend)?,
                            ),
                            event_type: EventTypeName::parse(&event_type).map_err(corrupt)?,
                            parked: stored::delivery_state(row.get(4).map_err(backend)?)?
                                == DeliveryTaskState::Parked,
                            attempts_made: row.get(5).map_err(backend)?,
                            message_created_at: from_micros(row.get(6).map_err(backend)?),
                            last_attempt_at: row
                                .get::<_, Option<i64>>(7)
                                .map_err(backend)?
                                .map(from_micros),
                        })
                    })())
                })
                .map_err(backend)?
                .map(|row| row.map_err(backend)?)
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(cursor.page(rows, |letter| letter.delivery_id.to_string()))
        })
        .await
    }

    async fn count_dead_letters(&self, app_id: &AppId) -> Result<Vec<DeadLetterGroup>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| {
            let app_id = &app_id;
            let (conditions, parameters) =
                dead_letter_conditions(app_id, &DeadLetterFilter::default());
            let sql = format!(
                "SELECT d.endpoint_id, m.event_type, d.status = 9, COUNT(*)
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE {conditions} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
            );
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), |row| {
                    let event_type: String = row.get(1)?;
                    Ok((|| {
                        Ok(DeadLetterGroup {
                            endpoint_id: EndpointId::from_trusted(
                                row.get::<_, String>(0).map_err(backend)?,
                            ),
                            event_type: EventTypeName::parse(&event_type).map_err(corrupt)?,
                            parked: row.get(2).map_err(backend)?,
                            count: u64::try_from(row.get::<_, i64>(3).map_err(backend)?)
                                .unwrap_or(0),
                        })
                    })())
                })
                .map_err(backend)?
                .map(|row| row.map_err(backend)?)
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(rows)
        })
        .await
    }

    async fn count_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<DeliveryCounts, StoreError> {
        let endpoint_id = endpoint_id.clone();
        self.read(move |c| {
            let endpoint_id = &endpoint_id;
            let mut sql = format!(
                "SELECT d.status, d.lease_token IS NOT NULL, COUNT(*)
         FROM delivery d JOIN message m ON m.id = d.msg_id
         WHERE d.endpoint_id = ? AND {LATEST_OF_PAIR}"
            );
            let mut parameters = vec![Value::Text(endpoint_id.to_string())];
            if let Some(since) = since {
                sql.push_str(" AND m.created_at >= ?");
                parameters.push(Value::Integer(to_micros(since)));
            }
            if let Some(until) = until {
                sql.push_str(" AND m.created_at < ?");
                parameters.push(Value::Integer(to_micros(until)));
            }
            sql.push_str(" GROUP BY 1, 2");
            let mut counts = DeliveryCounts::default();
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, bool>(1)?,
                        row.get::<_, i64>(2)?,
                    ))
                })
                .map_err(backend)?;
            for row in rows {
                let (status, leased, count) = row.map_err(backend)?;
                let state = DeliveryState::from_stored(stored::delivery_state(status)?, leased);
                counts.add(state, u64::try_from(count).unwrap_or(0));
            }
            Ok(counts)
        })
        .await
    }

    async fn sample_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        since: Timestamp,
    ) -> Result<Vec<AttemptSample>, StoreError> {
        let endpoint_id = endpoint_id.clone();
        self.read(move |c| {
            let endpoint_id = &endpoint_id;
            let limit = i64::try_from(MAX_ATTEMPT_SAMPLES).unwrap_or(i64::MAX);
            c.prepare_cached(
                "SELECT created_at, status, response_duration_ms FROM attempt
         WHERE endpoint_id = ?1 AND created_at >= ?2 ORDER BY created_at LIMIT ?3",
            )
            .map_err(backend)?
            .query_map(
                params![endpoint_id.as_str(), to_micros(since), limit],
                |row| {
                    Ok(AttemptSample {
                        created_at: from_micros(row.get(0)?),
                        success: row.get::<_, i64>(1)? == DeliveryStatus::Success as i64,
                        duration_ms: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
                    })
                },
            )
            .map_err(backend)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(backend)
        })
        .await
    }
}

/// The `WHERE` clause (after `WHERE`) and parameters selecting an application's dead letters.
fn dead_letter_conditions(app_id: &AppId, filter: &DeadLetterFilter) -> (String, Vec<Value>) {
    let mut sql = format!("d.app_id = ? AND d.status IN (2, 9) AND {LATEST_OF_PAIR}");
    let mut parameters = vec![Value::Text(app_id.to_string())];
    if let Some(endpoint_id) = &filter.endpoint_id {
        sql.push_str(" AND d.endpoint_id = ?");
        parameters.push(Value::Text(endpoint_id.to_string()));
    }
    if let Some(event_types) = filter
        .event_types
        .as_ref()
        .filter(|types| !types.is_empty())
    {
        let placeholders = vec!["?"; event_types.len()].join(", ");
        sql.push_str(&format!(" AND m.event_type IN ({placeholders})"));
        parameters.extend(
            event_types
                .iter()
                .map(|name| Value::Text(name.as_str().to_owned())),
        );
    }
    if let Some(before) = filter.before {
        sql.push_str(" AND m.created_at < ?");
        parameters.push(Value::Integer(to_micros(before)));
    }
    if let Some(after) = filter.after {
        sql.push_str(" AND m.created_at > ?");
        parameters.push(Value::Integer(to_micros(after)));
    }
    (sql, parameters)
}
