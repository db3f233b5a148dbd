//! SQL of the store's vital signs on PostgreSQL (`store::vitals`).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{from_micros, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::Timestamp;
use crate::store::StoreError;
use crate::store::vitals::{QueueVitals, VitalsStore};

/// The longest the readiness query may run on the server.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(1500);

#[async_trait]
impl VitalsStore for PostgresStore {
    /// Bounded on the server too (`PING_TIMEOUT`), so that a query stuck behind a lock ends
    /// there and gives its pooled connection back, rather than holding it after the caller
    /// stopped waiting. A table of hookd's own: the answer also says the schema is there.
    async fn ping(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        transaction
            .batch_execute(&format!(
                "SET LOCAL statement_timeout = {}",
                PING_TIMEOUT.as_millis()
            ))
            .await
            .map_err(backend)?;
        transaction
            .query_one("SELECT EXISTS (SELECT 1 FROM setting)", &[])
            .await
            .map_err(backend)?;
        transaction.commit().await.map_err(backend)
    }

    async fn queue_vitals(&self, now: Timestamp) -> Result<QueueVitals, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached(
                "SELECT
                   (SELECT COUNT(*) FROM delivery WHERE status = 1),
                   (SELECT MIN(next_due) FROM endpoint_queue WHERE next_due <= $1),
                   (SELECT COUNT(*) FROM endpoint WHERE paused_until > $1 AND NOT disabled),
                   (SELECT COUNT(*) FROM endpoint WHERE disabled)",
            )
            .await
            .map_err(backend)?;
        let row = c
            .query_one(&statement, &[&to_micros(now)])
            .await
            .map_err(backend)?;
        let count = |index| get::<i64>(&row, index).map(|count| u64::try_from(count).unwrap_or(0));
        Ok(QueueVitals {
            pending_deliveries: count(0)?,
            oldest_due: get::<Option<i64>>(&row, 1)?.map(from_micros),
            resting_endpoints: count(2)?,
            disabled_endpoints: count(3)?,
        })
    }
}
