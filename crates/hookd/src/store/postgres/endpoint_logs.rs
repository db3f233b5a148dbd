//! SQL for an endpoint's side of the delivery log on PostgreSQL (see `store::endpoint_logs`);
//! the same rules as the SQLite backend.

use async_trait::async_trait;

use super::messages::{MESSAGE_COLUMNS, message_conditions, message_from_row};
use super::rows::{Cursor, Parameters, from_micros, to_micros};
use super::{PostgresStore, backend, get};
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
impl EndpointLogStore for PostgresStore {
    async fn count_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        window: HourWindow,
    ) -> Result<AttemptCounts, StoreError> {
        let client = self.client().await?;
        let mut parameters = Parameters::default();
        let endpoint = parameters.push(endpoint_id.to_string());
        let mut sql =
            format!("SELECT status, COUNT(*) FROM attempt WHERE endpoint_id = {endpoint}");
        if let Some(start) = window.start {
            let start = parameters.push(to_micros(start));
            sql.push_str(&format!(" AND created_at >= {start}"));
        }
        if let Some(end) = window.end {
            let end = parameters.push(to_micros(end));
            sql.push_str(&format!(" AND created_at < {end}"));
        }
        sql.push_str(" GROUP BY status");
        let mut counts = AttemptCounts::default();
        for row in client
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
        {
            let count = u64::try_from(get::<i64>(&row, 1)?).unwrap_or(0);
            if get::<i16>(&row, 0)? == DeliveryStatus::Success as i16 {
                counts.success += count;
            } else {
                counts.fail += count;
            }
        }
        Ok(counts)
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        filter: EndpointMessageFilter,
        page: PageRequest,
    ) -> Result<Page<EndpointMessage>, StoreError> {
        let client = self.client().await?;
        let mut parameters = Parameters::default();
        let app = parameters.push(app_id.to_string());
        let endpoint = parameters.push(endpoint_id.to_string());
        let mut conditions = format!(" AND d.app_id = {app} AND d.endpoint_id = {endpoint}");
        let by_message = &filter.messages;
        conditions.push_str(&message_conditions(
            &mut parameters,
            by_message.event_types.as_ref(),
            by_message.channel.as_ref(),
            by_message.tag.as_ref(),
        ));
        if let Some(before) = by_message.before {
            let before = parameters.push(to_micros(before));
            conditions.push_str(&format!(" AND message.created_at < {before}"));
        }
        if let Some(after) = by_message.after {
            let after = parameters.push(to_micros(after));
            conditions.push_str(&format!(" AND message.created_at > {after}"));
        }
        if let Some(status) = filter.status_condition() {
            conditions.push_str(&format!(" AND {status}"));
        }
        let cursor = Cursor::new("d.msg_id", &page, &mut parameters);
        let columns: Vec<String> = MESSAGE_COLUMNS
            .split(", ")
            .map(|column| format!("message.{column}"))
            .collect();
        let sql = format!(
            "SELECT {}, d.status, d.lease_token IS NOT NULL, d.next_attempt_at
         FROM delivery d JOIN message ON message.id = d.msg_id
         WHERE {LATEST_OF_PAIR} {conditions} {} {} LIMIT {}",
            columns.join(", "),
            cursor.condition,
            cursor.order_by,
            cursor.fetch
        );
        let rows = client
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                let state = DeliveryState::from_stored(
                    stored::delivery_state(i64::from(get::<i16>(row, 10)?))?,
                    get::<bool>(row, 11)?,
                );
                Ok(EndpointMessage {
                    message: message_from_row(row)?,
                    state,
                    next_attempt_at: matches!(
                        state,
                        DeliveryState::Pending | DeliveryState::Sending
                    )
                    .then(|| get::<i64>(row, 12).map(from_micros))
                    .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(cursor.page(rows, |item| item.message.id.to_string()))
    }
}
