//! Endpoints and their signing secrets. Every endpoint write raises its `endpoint.*` event in
//! its own transaction (see `outbox`).

use async_trait::async_trait;

use super::{Change, Modified, Page, PageRequest, StoreError};
use crate::domain::{
    AppId, Endpoint, EndpointFields, EndpointId, EndpointSecret, Secret, Timestamp,
};

/// An application's endpoints and their secrets.
#[async_trait]
pub trait EndpointStore: Send + Sync {
    /// `NotFound` if the application is gone. Raises `endpoint.created` (see `outbox`), as
    /// `update_endpoint` and a saved `modify_endpoint` raise `endpoint.updated`.
    async fn create_endpoint(
        &self,
        app_id: &AppId,
        endpoint: NewEndpoint,
    ) -> Result<Endpoint, StoreError>;
    /// Finds an endpoint of this application by id or by uid.
    async fn get_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
    ) -> Result<Option<Endpoint>, StoreError>;
    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Endpoint>, StoreError>;
    /// Applies `change` to the endpoint of this application found by id or uid, reading and
    /// writing it in one transaction.
    async fn modify_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<Modified<Endpoint>, StoreError>;
    /// Deletes the endpoint; `now` stamps the `endpoint.deleted` event it raises.
    async fn delete_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// The signing secrets of endpoints.
#[async_trait]
pub trait EndpointSecretStore: Send + Sync {
    /// The endpoint's secrets that are valid at `now`, the current one first.
    async fn endpoint_secrets(
        &self,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<Vec<EndpointSecret>, StoreError>;
    /// Makes `new_key` current; the old current secret keeps signing until `old_expires_at`.
    /// `NotFound` if the endpoint is gone.
    async fn rotate_endpoint_secret(
        &self,
        id: &EndpointId,
        new_key: Secret,
        old_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError>;
}

pub type EndpointChange = Change<Endpoint, EndpointFields>;

/// A new endpoint with its first signing secret.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub id: EndpointId,
    pub fields: EndpointFields,
    pub secret: Secret,
    pub now: Timestamp,
}
