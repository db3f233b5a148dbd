//! The export document (`EnvironmentOut`): Svix's shape (`version`, `createdAt`, `eventTypes`,
//! `settings`, `connectors`) and hookd's `applications`, written so that the import body reads
//! it back unchanged. Unlike the endpoint API, it carries what a move needs and the API never
//! shows: each endpoint's current signing secret, its custom headers and its outbound
//! credentials in full. It is admin only, and should be kept like the secrets it holds.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::event_types::EventTypeOut;
use crate::domain::{
    AppId, ChannelName, EndpointId, EventTypeName, Metadata, OutboundAuth, Timestamp, Uid,
};
use crate::ops::environment::{Environment, ExportedApplication, ExportedEndpoint};

/// The version of the document's shape, for readers of older exports.
const DOCUMENT_VERSION: u32 = 1;

/// The answer of export.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentOut {
    pub version: u32,
    /// When the export was read (informational; an import ignores it).
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    pub event_types: Vec<EventTypeOut>,
    /// hookd has no environment settings; always empty.
    #[schema(value_type = Object)]
    pub settings: serde_json::Map<String, Value>,
    /// hookd has no connectors; always empty.
    #[schema(value_type = Vec<Object>)]
    pub connectors: Vec<Value>,
    /// hookd extension: every application with its endpoints.
    pub applications: Vec<ApplicationEnvironmentOut>,
}

/// One application of the export.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationEnvironmentOut {
    pub id: AppId,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<u32>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: Metadata,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
    pub endpoints: Vec<EndpointEnvironmentOut>,
}

/// One endpoint of the export, with what the endpoint API never renders.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointEnvironmentOut {
    pub id: EndpointId,
    pub url: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uid>,
    pub version: u32,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventTypeName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<u32>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: Metadata,
    /// The current signing secret (`whsec_...`).
    pub secret: String,
    /// The custom headers, values in full.
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    pub ordered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<String>,
    /// The outbound credentials in full (`{"type": "bearer", "token": ...}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub auth: Option<OutboundAuth>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<Environment> for EnvironmentOut {
    fn from(environment: Environment) -> Self {
        EnvironmentOut {
            version: DOCUMENT_VERSION,
            created_at: environment.created_at,
            event_types: environment
                .event_types
                .into_iter()
                .map(EventTypeOut::from)
                .collect(),
            settings: serde_json::Map::new(),
            connectors: Vec::new(),
            applications: environment
                .applications
                .into_iter()
                .map(ApplicationEnvironmentOut::from)
                .collect(),
        }
    }
}

impl From<ExportedApplication> for ApplicationEnvironmentOut {
    fn from(exported: ExportedApplication) -> Self {
        let app = exported.application;
        ApplicationEnvironmentOut {
            id: app.id,
            name: app.name,
            uid: app.uid,
            throttle_rate: app.throttle_rate,
            metadata: app.metadata,
            created_at: app.created_at,
            updated_at: app.updated_at,
            endpoints: exported
                .endpoints
                .into_iter()
                .map(EndpointEnvironmentOut::from)
                .collect(),
        }
    }
}

impl From<ExportedEndpoint> for EndpointEnvironmentOut {
    fn from(exported: ExportedEndpoint) -> Self {
        let endpoint = exported.endpoint;
        let fields = endpoint.fields;
        EndpointEnvironmentOut {
            id: endpoint.id,
            url: fields.url.as_str().to_owned(),
            description: fields.description,
            uid: fields.uid,
            version: fields.version,
            disabled: fields.disabled,
            event_types: fields.event_types,
            channels: fields.channels,
            throttle_rate: fields.throttle_rate,
            metadata: fields.metadata,
            secret: exported.secret.to_string(),
            headers: fields.headers,
            max_in_flight: fields.delivery.max_in_flight,
            ordered: fields.delivery.ordered,
            retry_schedule: fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            auth: fields.delivery.auth,
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}
