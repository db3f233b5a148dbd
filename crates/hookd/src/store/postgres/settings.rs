//! SQL for the settings table on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::{PostgresStore, backend, get};
use crate::store::{SettingStore, StoreError};

#[async_trait]
impl SettingStore for PostgresStore {
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached("SELECT value FROM setting WHERE name = $1")
            .await
            .map_err(backend)?;
        c.query_opt(&statement, &[&name])
            .await
            .map_err(backend)?
            .map(|row| get(&row, 0))
            .transpose()
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached(
                "INSERT INTO setting (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .await
            .map_err(backend)?;
        c.execute(&statement, &[&name, &value])
            .await
            .map_err(backend)?;
        Ok(())
    }
}
