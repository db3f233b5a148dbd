//! SQL for the settings table on SQLite.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};

use super::{SqliteStore, backend};
use crate::store::{SettingStore, StoreError};

#[async_trait]
impl SettingStore for SqliteStore {
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| {
            let name = &name;
            c.prepare_cached("SELECT value FROM setting WHERE name = ?1")
                .map_err(backend)?
                .query_row([name], |row| row.get(0))
                .optional()
                .map_err(backend)
        })
        .await
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write(move |c| put_setting(c, &name, &value)).await
    }
}

pub fn put_setting(c: &Connection, name: &str, value: &str) -> Result<(), StoreError> {
    c.prepare_cached("INSERT OR REPLACE INTO setting (name, value) VALUES (?1, ?2)")
        .map_err(backend)?
        .execute([name, value])
        .map_err(backend)?;
    Ok(())
}
