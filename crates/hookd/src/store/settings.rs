//! Named settings that hookd keeps between runs (a small key-value table).

use async_trait::async_trait;

use super::StoreError;

/// Settings by name.
#[async_trait]
pub trait SettingStore: Send + Sync {
    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError>;
    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError>;
}
