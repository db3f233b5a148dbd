//! SQL for an endpoint's side of the delivery log on SQLite (see `store::endpoint_logs`).

use async_trait::async_trait;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::messages::{Conditions, MESSAGE_COLUMNS, add_message_conditions, message_from_row};
use super::rows::{Cursor, from_micros, to_micros};
use super::{SqliteStore, backend};
use crate::domain::{AppId, DeliveryStatus, EndpointId, HourWindow};
use crate::store::endpoint_logs::{
    AttemptCounts, EndpointLogStore, EndpointMessage, EndpointMessageFilter,
};
use crate::store::logs::DeliveryState;
use crate::store::{Page, PageRequest, StoreError, stored};

/// True when no newer delivery exists for the same message and endpoint as `d`.
const LATEST_OF_PAIR: &str = "NOT EXISTS (SELECT 1 FROM delivery newer \
     WHERE newer.msg_id = d.msg_id AND newer.endpoint_id = d.endpoint_id AND newer.id > d.id)";

#[async_trait]
impl EndpointLogStore for SqliteStore {
    async fn count_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        window: HourWindow,
    ) -> Result<AttemptCounts, StoreError> {
        let endpoint_id = endpoint_id.clone();
        self.read(move |c| {
            let mut sql = "SELECT status, COUNT(*) FROM attempt WHERE endpoint_id = ?".to_owned();
            let mut parameters = vec![Value::Text(endpoint_id.to_string())];
            if let Some(start) = window.start {
                sql.push_str(" AND created_at >= ?");
                parameters.push(Value::Integer(to_micros(start)));
            }
            if let Some(end) = window.end {
                sql.push_str(" AND created_at < ?");
                parameters.push(Value::Integer(to_micros(end)));
            }
            sql.push_str(" GROUP BY status");
            let mut counts = AttemptCounts::default();
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), |row| {
                    Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(1)?))
                })
                .map_err(backend)?;
            for row in rows {
                let (status, count) = row.map_err(backend)?;
                let count = u64::try_from(count).unwrap_or(0);
                if status == DeliveryStatus::Success as i64 {
                    counts.success += count;
                } else {
                    counts.fail += count;
                }
            }
            Ok(counts)
        })
        .await
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        filter: EndpointMessageFilter,
        page: PageRequest,
    ) -> Result<Page<EndpointMessage>, StoreError> {
        let (app_id, endpoint_id) = (app_id.clone(), endpoint_id.clone());
        self.read(move |c| {
            let mut conditions = Conditions::default();
            conditions.add(
                "d.app_id = ? AND d.endpoint_id = ?",
                [
                    Value::Text(app_id.to_string()),
                    Value::Text(endpoint_id.to_string()),
                ],
            );
            let by_message = &filter.messages;
            add_message_conditions(
                &mut conditions,
                by_message.event_types.as_ref(),
                by_message.channel.as_ref(),
                by_message.tag.as_ref(),
            );
            if let Some(before) = by_message.before {
                conditions.add(
                    "message.created_at < ?",
                    [Value::Integer(to_micros(before))],
                );
            }
            if let Some(after) = by_message.after {
                conditions.add("message.created_at > ?", [Value::Integer(to_micros(after))]);
            }
            if let Some(status) = filter.status_condition() {
                conditions.add(&status, []);
            }
            let cursor = Cursor::new("d.msg_id", &page);
            let columns: Vec<String> = MESSAGE_COLUMNS
                .split(", ")
                .map(|column| format!("message.{column}"))
                .collect();
            let sql = format!(
                "SELECT {}, d.status, d.lease_token IS NOT NULL, d.next_attempt_at
         FROM delivery d JOIN message ON message.id = d.msg_id
         WHERE {LATEST_OF_PAIR} {} {} {} LIMIT {}",
                columns.join(", "),
                conditions.sql,
                cursor.condition,
                cursor.order_by,
                cursor.fetch
            );
            let parameters = conditions
                .parameters
                .into_iter()
                .chain(cursor.parameter.clone());
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), |row| {
                    let message = message_from_row(row)?;
                    let status: i64 = row.get(10)?;
                    let leased: bool = row.get(11)?;
                    let next_attempt_at: i64 = row.get(12)?;
                    Ok((message, status, leased, next_attempt_at))
                })
                .map_err(backend)?
                .map(|row| {
                    let (message, status, leased, next_attempt_at) = row.map_err(backend)?;
                    let state = DeliveryState::from_stored(stored::delivery_state(status)?, leased);
                    Ok(EndpointMessage {
                        message: message?,
                        state,
                        next_attempt_at: matches!(
                            state,
                            DeliveryState::Pending | DeliveryState::Sending
                        )
                        .then(|| from_micros(next_attempt_at)),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(cursor.page(rows, |item| item.message.id.to_string()))
        })
        .await
    }
}
