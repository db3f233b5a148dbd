//! The nouns of hookd: identifiers, parsed inputs and the records that the store keeps.
//!
//! Everything here is plain data with no I/O. Input types (`EndpointUrl`, `EventTypeName`, `Uid`,
//! `ChannelName`) can only be built through their `parse` functions, so code past the API edge never
//! re-checks strings. Time and randomness are passed in by the caller. Each topic has its own
//! file; everything is re-exported here, so callers name `crate::domain::Thing`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

mod background_task;
mod catalog;
pub mod content_filter;
pub mod endpoint_headers;
mod event_examples;
pub mod grants;
mod ids;
pub mod inbound;
mod inputs;
pub mod integrations;
pub mod limits;
mod messages;
pub mod openapi_webhooks;
pub mod operational;
mod payload;
pub mod payload_schema;
pub mod polling;
pub mod portal;
pub mod public_urls;
mod secrets;
mod stats_window;
pub mod tokens;

pub use background_task::{BackgroundTaskKind, BackgroundTaskStatus, ReplaySelection};
pub use catalog::{
    Application, ApplicationFields, DeliveryOptions, Endpoint, EndpointFields, EventType,
    EventTypeFields, FanoutTarget, OutboundAuth,
};
pub use content_filter::{ContentFilter, ContentFilterError, PayloadDocument};
pub use event_examples::{ExampleError, Recipients, schema_example};
pub use ids::{
    AppId, AttemptId, BackgroundTaskId, DeliveryId, EndpointId, InboundRequestId, IntegrationId,
    MessageId, SourceId, TokenId,
};
pub use inputs::{ChannelName, EndpointUrl, EventTypeName, InvalidInput, Uid};
pub use messages::{
    Attempt, AttemptDetails, DeliveryStatus, DeliveryTaskState, Message, RecordedFailureCode,
    TriggerType,
};
pub use payload::{MessagePayload, PayloadError};
pub use secrets::{EndpointSecret, Secret, SigningSecrets, shown_key};
pub use stats_window::HourWindow;

/// Timestamps everywhere are UTC with millisecond precision or better.
pub type Timestamp = DateTime<Utc>;

/// String-to-string metadata attached to applications and endpoints (Svix's `metadata`).
pub type Metadata = BTreeMap<String, String>;
