//! The store contract: everything hookd keeps, behind one trait per aggregate, with one
//! implementation per database (SQLite for one node, PostgreSQL for several).
//!
//! This module and its children are the only places that contain SQL. Callers speak in domain
//! types and get domain types back; they never see rows, connections or transactions. Each
//! aggregate's trait and its records live in their own file (`applications`, `endpoints`,
//! `event_types`, `messages`, `deliveries`, `idempotency`, `settings`, `retention`, `logs`,
//! `endpoint_logs`,
//! `replay`, `background_tasks`, `web_sessions`, `tokens`, `integrations`); `Store` is all of them together, so `Arc<dyn Store>` reaches
//! every method, and `prelude` brings the traits into scope for a concrete backend. Promises
//! every backend keeps:
//! - `create_message` commits the message and one delivery per matching endpoint in one
//!   transaction, and returns only after that commit is durable;
//! - a write that raises operational events (endpoint writes, `record_attempts`; see `outbox`)
//!   commits them, as messages of the internal application with their deliveries, in its own
//!   transaction;
//! - a commit that adds deliveries notifies `deliveries_added`, so no caller wakes the engine;
//! - a delivery handed out by `claim_due_deliveries` is leased: no other claim returns it until
//!   the lease runs out or the outcome is recorded; `renew_leases` keeps a live worker's lease
//!   from running out.

pub mod applications;
pub mod background_tasks;
pub mod deliveries;
pub mod endpoint_logs;
pub mod endpoints;
pub mod event_types;
pub mod idempotency;
pub mod inbound;
pub mod integrations;
pub mod logs;
pub mod messages;
mod outbox;
pub mod paging;
pub mod parsed_filters;
pub mod polling;
pub mod postgres;
pub mod replay;
pub mod retention;
pub mod sealed_values;
pub mod sealing;
pub mod settings;
pub mod sqlite;
pub mod stored;
pub mod streams;
pub mod tokens;
pub mod transformations;
pub mod vitals;
pub mod web_sessions;

pub use applications::{ApplicationChange, ApplicationFilter, ApplicationStore};
pub use background_tasks::{
    BackgroundTask, BackgroundTaskStore, ClaimedBackgroundTask, NewBackgroundTask, ReplayProgress,
    ReplayStep, UsageRow,
};
pub use deliveries::{
    AttemptRecord, ClaimBudget, ClaimedDelivery, DeliveryStore, DisabledEndpoint, HeldLease,
    NextStep, RenewedLeases,
};
pub use endpoint_logs::EndpointLogStore;
pub use endpoints::{EndpointChange, EndpointSecretStore, EndpointStore, NewEndpoint};
pub use event_types::{EventTypeChange, EventTypeStore};
pub use idempotency::{
    CreatedMessageAnswer, IDEMPOTENCY_IN_PROGRESS, IdempotencyStore, IdempotentResponse, KeyClaim,
};
pub(crate) use idempotency::{answer_columns, body_to_store, opened_body};
pub use integrations::IntegrationStore;
pub use logs::LogStore;
pub use messages::{
    AttemptFilter, AttemptStore, MessageFilter, MessageInsert, MessageStore, NewMessage,
};
pub use paging::{Order, Page, PageRequest};
pub use polling::{ConsumerSave, PollingStore};
pub use replay::{ReplayFilter, ReplayStore};
pub use retention::RetentionStore;
pub use settings::SettingStore;
pub use streams::{StreamPosition, StreamRead, StreamStore};
pub use tokens::{TokenSelection, TokenStore};
pub use transformations::{StoredTransformation, TransformationChange, TransformationStore};
pub use vitals::{QueueVitals, VitalsStore};
pub use web_sessions::{WebSession, WebSessionStore};

/// The delivery row's state codes, for the backends' SQL (see `stored::delivery_state_code`).
use stored::delivery_state;

/// Every aggregate's trait, for callers that hold a concrete backend (`Arc<dyn Store>` needs
/// no import): `use crate::store::prelude::*;`.
pub mod prelude {
    pub use super::inbound::InboundStore;
    pub use super::sealed_values::SealedValueStore;
    pub use super::{
        ApplicationStore, AttemptStore, BackgroundTaskStore, DeliveryStore, EndpointLogStore,
        EndpointSecretStore, EndpointStore, EventTypeStore, IdempotencyStore, IntegrationStore,
        LogStore, MessageStore, PollingStore, ReplayStore, RetentionStore, SettingStore, Store,
        StreamStore, TokenStore, TransformationStore, VitalsStore, WebSessionStore,
    };
}

/// Why a store call failed. Callers branch on `Conflict`; the rest are operational failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (such as `uid` or an event type name) is already taken.
    #[error("{0}")]
    Conflict(String),
    /// The record a write names (the application of a new endpoint or message, the endpoint of
    /// a secret) does not exist, typically because a concurrent request just deleted it.
    #[error("{0}")]
    NotFound(&'static str),
    /// The database refused or failed the operation.
    #[error("database error")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Another process holds the data directory.
    #[error("another hookd process is using this data directory")]
    Locked,
    /// The store is shutting down or its writer is gone.
    #[error("the store is not available")]
    Unavailable,
    /// The database's disk is full. Nothing of the call was kept, and the same call can succeed
    /// once space is freed, so callers treat it as retryable.
    #[error("the database's storage is full")]
    StorageFull(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A read-modify-write of one record: computes the new fields from the record as it is inside
/// the write transaction, so concurrent changes to other fields are never overwritten. It runs
/// on the store's write path, so it must be quick and pure (no I/O).
pub type Change<Current, Fields> =
    Box<dyn FnOnce(&Current) -> Result<Fields, ChangeRefused> + Send + 'static>;

/// The caller's reason for not applying a change, handed back untouched (for example a limit
/// that the record's current state would exceed).
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ChangeRefused(pub Box<dyn std::error::Error + Send + Sync>);

/// What a read-modify-write did.
#[derive(Debug)]
pub enum Modified<T> {
    /// The change was applied and committed; this is the record now.
    Saved(T),
    /// No such record; nothing was written.
    Missing,
    /// The change refused to apply to the current record; nothing was written.
    Refused(ChangeRefused),
}

/// The contract every database backend implements: every aggregate's trait, and the wake-up
/// that all of their writes share. See the module docs for the promises.
pub trait Store:
    ApplicationStore
    + EndpointStore
    + EndpointSecretStore
    + EventTypeStore
    + MessageStore
    + StreamStore
    + PollingStore
    + AttemptStore
    + DeliveryStore
    + IdempotencyStore
    + SettingStore
    + RetentionStore
    + LogStore
    + EndpointLogStore
    + ReplayStore
    + BackgroundTaskStore
    + TokenStore
    + IntegrationStore
    + TransformationStore
    + VitalsStore
    + inbound::InboundStore
    + WebSessionStore
    + sealed_values::SealedValueStore
    + Send
    + Sync
    + 'static
{
    /// Notified after every commit that added deliveries (or made some due now), on this node
    /// and, on PostgreSQL, on any node: the engine waits on it instead of being woken by the
    /// writers' callers. One permit is kept while nobody waits, so a commit is never missed.
    fn deliveries_added(&self) -> std::sync::Arc<tokio::sync::Notify>;
}

/// The backend chosen at start-up, opened and migrated.
pub enum Backend {
    /// Embedded SQLite in the data directory: one hookd process.
    Sqlite(std::sync::Arc<sqlite::SqliteStore>),
    /// A PostgreSQL database shared by any number of hookd nodes.
    Postgres(std::sync::Arc<postgres::PostgresStore>),
}

impl Backend {
    /// Opens PostgreSQL when `database_url` is given (`--database-url`), otherwise SQLite in
    /// `data_dir`. `node_id` names this process on the PostgreSQL leases it takes.
    /// Secret columns are sealed and opened with `sealing`; the write batchers record their
    /// commits in `instruments`.
    pub async fn open(
        database_url: Option<&str>,
        data_dir: &std::path::Path,
        node_id: &str,
        sealing: sealing::Sealing,
        instruments: &crate::telemetry::instruments::Instruments,
    ) -> Result<Backend, StoreError> {
        match database_url {
            Some(url) => Ok(Backend::Postgres(std::sync::Arc::new(
                postgres::PostgresStore::open_with(
                    url,
                    node_id,
                    sealing,
                    instruments.commits("postgres"),
                )
                .await?,
            ))),
            None => Ok(Backend::Sqlite(std::sync::Arc::new(
                sqlite::SqliteStore::open_with(data_dir, sealing, instruments.commits("sqlite"))?,
            ))),
        }
    }

    pub fn store(&self) -> std::sync::Arc<dyn Store> {
        match self {
            Backend::Sqlite(store) => store.clone(),
            Backend::Postgres(store) => store.clone(),
        }
    }

    /// Finishes queued writes and closes the database.
    pub async fn close(&self) {
        match self {
            Backend::Sqlite(store) => store.close(),
            Backend::Postgres(store) => store.close().await,
        }
    }
}
