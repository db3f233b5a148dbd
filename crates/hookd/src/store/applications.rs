//! Applications: the tenants whose endpoints receive messages. Deleting one takes its endpoints,
//! messages, deliveries and attempts with it.

use async_trait::async_trait;

use super::{Change, Modified, Page, PageRequest, StoreError};
use crate::domain::{AppId, Application, ApplicationFields, Timestamp};

/// Applications, by id or by uid.
#[async_trait]
pub trait ApplicationStore: Send + Sync {
    async fn create_application(
        &self,
        id: AppId,
        fields: ApplicationFields,
        now: Timestamp,
    ) -> Result<Application, StoreError>;
    /// Finds an application by id or by uid.
    async fn get_application(&self, id_or_uid: &str) -> Result<Option<Application>, StoreError>;
    async fn list_applications(
        &self,
        page: PageRequest,
        filter: ApplicationFilter,
    ) -> Result<Page<Application>, StoreError>;
    /// Applies `change` to the application found by id or uid, reading and writing it in one
    /// transaction.
    async fn modify_application(
        &self,
        id_or_uid: &str,
        change: ApplicationChange,
        now: Timestamp,
    ) -> Result<Modified<Application>, StoreError>;
    /// Deletes the application with its endpoints, messages, deliveries and attempts.
    async fn delete_application(&self, id: &AppId) -> Result<bool, StoreError>;
}

pub type ApplicationChange = Change<Application, ApplicationFields>;

/// Which applications a listing shows. Filters apply before paging, so a page is always full
/// when more rows match and its iterator names a row that was shown.
#[derive(Debug, Clone, Default)]
pub struct ApplicationFilter {
    /// An application never listed (the internal one that owns operational webhooks).
    pub hidden: Option<AppId>,
    /// Applications whose id starts with this are never listed (the inbound sources' own).
    pub hidden_prefix: Option<&'static str>,
    /// Only applications with at least one endpoint (Svix's `exclude_apps_with_no_endpoints`).
    pub with_endpoints_only: bool,
}
