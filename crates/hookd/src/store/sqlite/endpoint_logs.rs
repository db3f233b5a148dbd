//! SQL for an endpoint's side of the delivery log on SQLite (see `store::endpoint_logs`).

use async_trait::async_trait;
use rusqlite::params_from_iter;
use rusqlite::types::Value;

use super::rows::to_micros;
use super::{SqliteStore, backend};
use crate::domain::{DeliveryStatus, EndpointId, HourWindow};
use crate::store::StoreError;
use crate::store::endpoint_logs::{AttemptCounts, EndpointLogStore};

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
}
