//! SQL for an endpoint's side of the delivery log on PostgreSQL (see `store::endpoint_logs`);
//! the same rules as the SQLite backend.

use async_trait::async_trait;

use super::rows::{Parameters, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::{DeliveryStatus, EndpointId, HourWindow};
use crate::store::StoreError;
use crate::store::endpoint_logs::{AttemptCounts, EndpointLogStore};

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
}
