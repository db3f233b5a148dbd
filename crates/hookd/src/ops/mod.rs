//! The operations layer: every use case of hookd, once, for every caller (today the HTTP API;
//! tomorrow the inbound gateway, the app portal and the CLI).
//!
//! An operation is a function `fn(&Ops, &Principal, command) -> Result<T, OpError>`. It checks
//! that the principal may do it (`scope`, the only place that decides who may see what), runs
//! the workflow against the store (inline application creation, operational events, waking the
//! dispatcher or the background runner) and returns domain records. It knows no status codes,
//! routes or JSON shapes: the API parses requests into commands and renders what comes back,
//! and `api/error.rs` maps `OpError` to HTTP.

pub mod applications;
pub mod attempts;
pub mod background_tasks;
pub mod delivery_logs;
pub mod endpoint_secrets;
pub mod endpoint_targets;
pub mod endpoints;
pub mod environment;
pub mod erasure;
mod error;
pub mod event_type_import;
pub mod event_types;
pub mod idempotency;
pub mod inbound;
pub mod integrations;
pub mod listing;
pub mod messages;
pub mod payload_validation;
pub mod polling;
mod principal;
pub mod readiness;
pub mod rejected_log;
pub mod replay;
mod scope;
pub mod stream;
pub mod tokens;
pub mod transformations;
pub mod usage_stats;
pub mod web_sessions;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::clock::Clock;
use crate::engine::client::Resolver;
use crate::policy::ssrf::TargetPolicy;
use crate::store::Store;
use crate::telemetry::instruments::Instruments;

pub use error::{InputPlace, InvalidField, OpError};
pub use principal::{
    ADMIN_ONLY, AppScope, MISSING_CAPABILITY, OTHER_APPLICATION, Principal, READ_ONLY,
};
pub use scope::{AppRef, Named, require_found};

/// Shorthand for the result of an operation.
pub type OpResult<T> = Result<T, OpError>;

/// What the operations need: the store, the clock, and the configuration and services that
/// their rules use. Cheap to clone.
#[derive(Clone)]
pub struct Ops {
    pub store: Arc<dyn Store>,
    pub clock: Arc<dyn Clock>,
    /// Which endpoint URLs are allowed (SSRF guard, https-only).
    pub target_policy: TargetPolicy,
    /// Resolves endpoint hosts when they are configured, so that names pointing at private
    /// addresses are refused.
    pub resolver: Arc<dyn Resolver>,
    /// Notified after a background task is created, so the runner starts it at once.
    pub wake_background: Arc<Notify>,
    /// How long message payloads are kept; a `deliverAt` may not lie beyond it, or the payload
    /// would be purged before it is sent.
    pub payload_retention: std::time::Duration,
    /// Told of every message committed on this node, so that open streams read it at once.
    pub message_feed: stream::MessageFeed,
    /// The series the operations count in (messages accepted, inbound verdicts).
    pub instruments: Arc<Instruments>,
    /// What readiness reads besides the store: the engine's heartbeat and its limit.
    pub readiness: readiness::ReadinessProbe,
    /// How many rejected inbound requests each source may record
    /// (`--inbound-rejected-log-per-minute`).
    pub rejected_log: Arc<rejected_log::RejectedLogBudget>,
    /// This node's compiled enforced schemas, by event type and revision.
    pub compiled_schemas: Arc<payload_validation::CompiledSchemas>,
}

/// What a create-or-update (or a create that may find its record already there) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upserted<T> {
    /// A new record was created.
    Created(T),
    /// The record existed: it was updated (PUT) or returned as it was (`get_if_exists`).
    Existing(T),
}

/// How often an upsert tries update-then-create. Losing the create to a concurrent one means
/// the next update finds it, so a conflict that outlasts this is a real one (the body's uid
/// belongs to another record).
pub const UPSERT_ROUNDS: usize = 3;

/// Why a resend or replay of a message whose content was expunged (or purged by retention) is
/// refused up front: every attempt would fail, as it has nothing to send. Svix's words.
pub const PAYLOAD_MISSING: &str =
    "Unable to resend message. Payload is missing (expunged or past retention).";

/// The record a read-modify-write saved, or the error to fail with: `NotFound` when the record
/// is gone, or the caller's own refusal.
fn saved<T>(modified: crate::store::Modified<T>, not_found: &'static str) -> OpResult<T> {
    match modified {
        crate::store::Modified::Saved(record) => Ok(record),
        crate::store::Modified::Missing => Err(OpError::NotFound(not_found)),
        crate::store::Modified::Refused(refusal) => Err(OpError::Refused(refusal)),
    }
}
