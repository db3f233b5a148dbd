//! SQL of the store's vital signs on SQLite (`store::vitals`).

use async_trait::async_trait;
use rusqlite::Connection;

use super::rows::{from_micros, to_micros};
use super::{SqliteStore, backend};
use crate::domain::Timestamp;
use crate::store::StoreError;
use crate::store::vitals::{QueueVitals, VitalsStore};

#[async_trait]
impl VitalsStore for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| {
            // A table of hookd's own, so that the answer also says the schema is there.
            c.prepare_cached("SELECT EXISTS (SELECT 1 FROM setting)")
                .map_err(backend)?
                .query_row([], |row| row.get::<_, bool>(0))
                .map_err(backend)
                .map(|_| ())
        })
        .await
    }

    async fn queue_vitals(&self, now: Timestamp) -> Result<QueueVitals, StoreError> {
        self.read(move |c| queue_vitals(c, to_micros(now))).await
    }
}

fn queue_vitals(c: &Connection, now: i64) -> Result<QueueVitals, StoreError> {
    let count = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> Result<u64, StoreError> {
        c.prepare_cached(sql)
            .map_err(backend)?
            .query_row(params, |row| row.get::<_, i64>(0))
            .map_err(backend)
            .map(|count| u64::try_from(count).unwrap_or(0))
    };
    let oldest_due: Option<i64> = c
        .prepare_cached("SELECT MIN(next_due) FROM endpoint_queue WHERE next_due <= ?1")
        .map_err(backend)?
        .query_row([now], |row| row.get(0))
        .map_err(backend)?;
    Ok(QueueVitals {
        pending_deliveries: count("SELECT COUNT(*) FROM delivery WHERE status = 1", &[])?,
        oldest_due: oldest_due.map(from_micros),
        resting_endpoints: count(
            "SELECT COUNT(*) FROM endpoint WHERE paused_until > ?1 AND disabled = 0",
            &[&now],
        )?,
        disabled_endpoints: count("SELECT COUNT(*) FROM endpoint WHERE disabled <> 0", &[])?,
    })
}
