//! `IntegrationStore`: an application's integrations, and the SHA-256 (hex) of each one's
//! current key, by which a presented key is found; the key itself is never stored. An
//! integration goes with its application (`ON DELETE CASCADE`), its key with it.

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::integrations::{Integration, IntegrationFields};
use crate::domain::{AppId, IntegrationId, Timestamp};

/// Integrations by application, found for authentication by their key's hash.
#[async_trait]
pub trait IntegrationStore: Send + Sync {
    /// Saves a new integration with the hash of its first key; `NotFound` when its application
    /// is gone.
    async fn create_integration(
        &self,
        integration: &Integration,
        key_sha256: [u8; 32],
    ) -> Result<(), StoreError>;

    /// A page of an application's integrations, by id (newest first when descending).
    async fn list_integrations(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Integration>, StoreError>;

    /// One integration of an application.
    async fn get_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
    ) -> Result<Option<Integration>, StoreError>;

    /// Replaces an integration's fields; the integration as saved, or `None` when there is no
    /// such integration.
    async fn update_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
        fields: &IntegrationFields,
        now: Timestamp,
    ) -> Result<Option<Integration>, StoreError>;

    /// Deletes an integration, and with it its key; `false` when there is no such integration.
    async fn delete_integration(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
    ) -> Result<bool, StoreError>;

    /// Replaces an integration's key hash, so the previous key stops authenticating with this
    /// commit; `false` when there is no such integration.
    async fn replace_integration_key(
        &self,
        app_id: &AppId,
        id: &IntegrationId,
        key_sha256: [u8; 32],
    ) -> Result<bool, StoreError>;

    /// The integration whose current key hashes to `key_sha256`.
    async fn find_integration_by_key(
        &self,
        key_sha256: [u8; 32],
    ) -> Result<Option<Integration>, StoreError>;
}
