//! Endpoint transformations as stored: an endpoint's JavaScript source, whether it runs, and
//! when either last changed. The store keeps the code as text and never judges it: the
//! operation compiles it before it is written (`ops::transformations`), and the claim hands it
//! to the engine only while it is enabled (`ClaimedDelivery::transformation`).

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{AppId, EndpointId, Timestamp};

/// An endpoint's transformation as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTransformation {
    /// `None`: no code was ever set, or it was removed.
    pub code: Option<String>,
    pub enabled: bool,
    /// When the code or the switch last changed; `None` if never.
    pub updated_at: Option<Timestamp>,
}

/// A change to an endpoint's transformation: each part `None` keeps what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformationChange {
    /// `Some(None)` removes the code.
    pub code: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub at: Timestamp,
}

#[async_trait]
pub trait TransformationStore: Send + Sync {
    /// The transformation of this application's endpoint; `None` if there is no such endpoint.
    async fn endpoint_transformation(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
    ) -> Result<Option<StoredTransformation>, StoreError>;
    /// Applies `change` in one statement (so concurrent changes to the code and to the switch
    /// both hold). `NotFound` if the endpoint is gone.
    async fn set_endpoint_transformation(
        &self,
        app_id: &AppId,
        endpoint_id: &EndpointId,
        change: TransformationChange,
    ) -> Result<(), StoreError>;
}
