//! The PostgreSQL backend: several hookd nodes share one database.
//!
//! Connections come from a `deadpool-postgres` pool over `tokio-postgres`. Messages are written
//! by a small batcher (`writer`) so concurrent requests share commits; everything else is one
//! short statement or transaction on a pooled connection. Claims use `FOR UPDATE SKIP LOCKED`
//! so nodes never hand one delivery to two workers (`deliveries`), and commits that add
//! deliveries send `NOTIFY hookd_deliveries`, which `listener` turns into `deliveries_added`
//! wake-ups on every node (the committing node also notifies itself at once). Operational
//! events commit in the transaction of the write that raised them (`outbox`). Unlike SQLite,
//! only the leases stamped with this node's own id are released at start-up: other nodes are
//! alive.
//!
//! Each aggregate's SQL and its part of the contract (`impl ApplicationStore for
//! PostgresStore`, ...) live together in one child module. This file owns the pool, the
//! migrations, and what every module shares: pooled clients, the wake-up after a commit, and
//! the mapping of PostgreSQL's errors.

mod applications;
mod attempts;
mod background_tasks;
mod deliveries;
mod endpoint_logs;
mod endpoint_secrets;
mod endpoints;
mod event_types;
mod idempotency;
mod inbound;
mod integrations;
mod listener;
mod logs;
mod message_batch;
mod messages;
mod outbox;
mod polling;
mod replay;
mod retention;
mod rows;
mod sealed_values;
mod settings;
mod streams;
mod task_batches;
mod tokens;
mod transformations;
mod vitals;
mod web_sessions;
mod writer;

use crate::store::parsed_filters::ParsedFilters;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;
use tokio_util::sync::CancellationToken;

use super::sealing::Sealing;
use super::{Store, StoreError};
use crate::telemetry::instruments::CommitInstruments;

/// The channel on which commits that add deliveries notify every node.
pub const NOTIFY_CHANNEL: &str = "hookd_deliveries";

/// Pooled connections per node (the LISTEN connection is extra).
const POOL_SIZE: usize = 16;
/// How long a caller waits for a pooled connection, or for a new one to connect, before the
/// call fails instead of hanging while PostgreSQL is away.
const CONNECTION_WAIT: Duration = Duration::from_secs(10);

/// Schema versions in order; `schema_migrations` records which have been applied.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("schema.sql")),
    (2, include_str!("schema_2.sql")),
    (3, include_str!("schema_3.sql")),
    (4, include_str!("schema_4.sql")),
    (5, include_str!("schema_5.sql")),
    (6, include_str!("schema_6.sql")),
    (7, include_str!("schema_7.sql")),
    (8, include_str!("schema_8.sql")),
    (9, include_str!("schema_9.sql")),
    (10, include_str!("schema_10.sql")),
    (11, include_str!("schema_11.sql")),
    (12, include_str!("schema_erasure.sql")),
    (13, include_str!("schema_polling.sql")),
    (14, include_str!("schema_content_filters.sql")),
    (15, include_str!("schema_payload_validation.sql")),
    (16, include_str!("schema_transformations.sql")),
    (17, include_str!("schema_sealed_answers.sql")),
    (18, include_str!("schema_integrations.sql")),
    (19, include_str!("schema_token_grants.sql")),
];

/// The PostgreSQL store. Call `close` before dropping it to commit queued messages.
pub struct PostgresStore {
    pool: Pool,
    connect_config: tokio_postgres::Config,
    /// Stamped on this node's leases (`leased_by`), so only its own leases are released.
    node_id: String,
    writer: writer::MessageWriter,
    /// Notified by `listener` when any node commits deliveries, and at once after this node's
    /// own commits that add some (without waiting for the notification's round trip).
    deliveries_added: Arc<Notify>,
    /// How secret columns are sealed and opened (`store::sealing`).
    sealing: Arc<Sealing>,
    /// Endpoints' content filters as fan-out has parsed them (`store::parsed_filters`).
    filters: Arc<ParsedFilters>,
}

impl PostgresStore {
    /// Connects to `database_url` (`postgres://...`), applies pending migrations, and starts the
    /// message writers. `node_id` names this node on the leases it takes.
    pub async fn open(database_url: &str, node_id: &str) -> Result<Self, StoreError> {
        Self::open_with(
            database_url,
            node_id,
            Sealing::plain(),
            CommitInstruments::unrecorded(),
        )
        .await
    }

    /// `open`, with secret columns sealed and opened by `sealing`, and the message writers'
    /// commits recorded in `commits`.
    pub async fn open_with(
        database_url: &str,
        node_id: &str,
        sealing: Sealing,
        commits: CommitInstruments,
    ) -> Result<Self, StoreError> {
        let connect_config = parse_url(database_url)?;
        migrate_database(&connect_config).await?;
        let manager = Manager::from_config(
            connect_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECTION_WAIT))
            .create_timeout(Some(CONNECTION_WAIT))
            .recycle_timeout(Some(CONNECTION_WAIT))
            .build()
            .map_err(backend)?;
        // Leases stamped with this node's name are an earlier run's: give them back now rather
        // than when they run out.
        {
            let mut client = pooled(&pool).await?;
            let transaction = client.transaction().await.map_err(backend)?;
            let released = deliveries::release_node_leases(&transaction, node_id).await?;
            transaction.commit().await.map_err(backend)?;
            if released > 0 {
                tracing::info!(
                    node_id,
                    released,
                    "released the leases of this node's last run"
                );
            }
        }
        let filters = Arc::new(ParsedFilters::default());
        Ok(PostgresStore {
            writer: writer::MessageWriter::start(pool.clone(), commits, Arc::clone(&filters)),
            pool,
            connect_config,
            node_id: node_id.to_owned(),
            deliveries_added: Arc::new(Notify::new()),
            sealing: Arc::new(sealing),
            filters,
        })
    }

    /// Applies pending migrations to `database_url` and returns the versions it applied
    /// (`hookd migrate`).
    pub async fn migrate(database_url: &str) -> Result<Vec<i32>, StoreError> {
        migrate_database(&parse_url(database_url)?).await
    }

    /// Starts notifying `deliveries_added` whenever any node commits new deliveries; see
    /// `listener`.
    pub fn listen_for_deliveries(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(listener::listen_for_deliveries(
            self.connect_config.clone(),
            Arc::clone(&self.deliveries_added),
            shutdown,
        ))
    }

    /// After a commit: wakes this node's engine at once if it added deliveries.
    fn committed(&self, deliveries_added: usize) {
        if deliveries_added > 0 {
            self.deliveries_added.notify_one();
        }
    }

    /// Commits what the message writers have queued, then closes the pool.
    pub async fn close(&self) {
        self.writer.close().await;
        self.pool.close();
    }

    async fn client(&self) -> Result<Object, StoreError> {
        pooled(&self.pool).await
    }
}

async fn pooled(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(backend)
}

fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    if is_disk_full(&error) {
        return StoreError::StorageFull(Box::new(error));
    }
    StoreError::Backend(Box::new(error))
}

/// Whether PostgreSQL refused a write for lack of disk space (SQLSTATE 53100): retryable once
/// space is freed, as on SQLite.
fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| *code == SqlState::DISK_FULL)
}

/// Maps a unique-constraint violation to `Conflict` with a message for the client.
fn unique(message: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| match error.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => {
            StoreError::Conflict(message.to_owned())
        }
        _ => backend(error),
    }
}

/// Maps a foreign-key violation to `NotFound`: the row an insert refers to was deleted by a
/// concurrent transaction before the insert ran.
fn missing_parent(what: &'static str) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| match error.code() {
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound(what),
        _ => backend(error),
    }
}

/// `unique` and `missing_parent` together, for inserts that can hit both.
fn unique_or_missing_parent(
    conflict: &'static str,
    what: &'static str,
) -> impl Fn(tokio_postgres::Error) -> StoreError {
    move |error| match error.code() {
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => StoreError::NotFound(what),
        _ => unique(conflict)(error),
    }
}

/// How often a delete runs again after PostgreSQL aborted it to break a deadlock.
const DEADLOCK_RETRIES: usize = 3;

/// Runs `attempt` again when PostgreSQL aborted it to break a deadlock. A cascading delete locks
/// the rows under an application or endpoint in its own order, while an attempt being recorded
/// for one of its endpoints holds some of them in another; PostgreSQL aborts one of the two.
/// An aborted delete committed nothing, so running it again is safe, and the caller gets its
/// answer instead of a 500.
async fn retry_on_deadlock<T, Attempt, Running>(mut attempt: Attempt) -> Result<T, StoreError>
where
    Attempt: FnMut() -> Running,
    Running: std::future::Future<Output = Result<T, StoreError>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Err(error) if retries < DEADLOCK_RETRIES && is_deadlock(&error) => {
                retries += 1;
                tracing::debug!(
                    retries,
                    "a delete was chosen to break a deadlock; running it again"
                );
            }
            outcome => return outcome,
        }
    }
}

fn is_deadlock(error: &StoreError) -> bool {
    let StoreError::Backend(source) = error else {
        return false;
    };
    source
        .downcast_ref::<tokio_postgres::Error>()
        .and_then(tokio_postgres::Error::code)
        .is_some_and(|code| *code == SqlState::T_R_DEADLOCK_DETECTED)
}

/// Reads one column, turning a type mismatch into a backend error.
fn get<'a, T: FromSql<'a>>(row: &'a tokio_postgres::Row, index: usize) -> Result<T, StoreError> {
    row.try_get(index).map_err(backend)
}

fn parse_url(database_url: &str) -> Result<tokio_postgres::Config, StoreError> {
    let mut config = tokio_postgres::Config::from_str(database_url).map_err(backend)?;
    // Shown in pg_stat_activity; a name given in the URL wins (tests name their schema's sessions).
    if config.get_application_name().is_none() {
        config.application_name("hookd");
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECTION_WAIT);
    }
    // A dead peer is noticed within a minute or so, not after the system's two hours.
    config.keepalives_idle(Duration::from_secs(30));
    Ok(config)
}

/// Applies every migration not yet recorded in `schema_migrations`, in one transaction under
/// an advisory lock, so nodes starting together apply each version exactly once.
async fn migrate_database(config: &tokio_postgres::Config) -> Result<Vec<i32>, StoreError> {
    let (mut client, connection) = config.connect(NoTls).await.map_err(backend)?;
    let driver = tokio::spawn(connection);
    let transaction = client.transaction().await.map_err(backend)?;
    // `IF NOT EXISTS` on the existing table makes PostgreSQL send a NOTICE, which the driver
    // logged at every start; notices say nothing an operator needs, warnings still come through.
    transaction
        .batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext('hookd migrations ' || coalesce(current_schema(), '')));
             SET LOCAL client_min_messages = warning;
             CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now()
             );",
        )
        .await
        .map_err(backend)?;
    let applied: Vec<i32> = transaction
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| get(row, 0))
        .collect::<Result<_, _>>()?;
    let mut newly_applied = Vec::new();
    for (version, migration) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        transaction
            .batch_execute(migration)
            .await
            .map_err(backend)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)",
                &[version],
            )
            .await
            .map_err(backend)?;
        newly_applied.push(*version);
    }
    transaction.commit().await.map_err(backend)?;
    drop(client);
    let _ = driver.await;
    Ok(newly_applied)
}

impl Store for PostgresStore {
    fn deliveries_added(&self) -> Arc<Notify> {
        Arc::clone(&self.deliveries_added)
    }
}
