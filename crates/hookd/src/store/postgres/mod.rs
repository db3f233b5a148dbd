//! The PostgreSQL backend: several hookd nodes share one database.
//!
//! Connections come from a `deadpool-postgres` pool over `tokio-postgres`. Messages are written
//! by a small batcher (`writer`) so concurrent requests share commits; everything else is one
//! short statement or transaction on a pooled connection. Claims use `FOR UPDATE SKIP LOCKED`
//! so nodes never hand one delivery to two workers (`deliveries`), and commits that add
//! deliveries send `NOTIFY hookd_deliveries`, which `listener` turns into `deliveries_added`
//! wake-ups on every node (the committing node also notifies itself at once). Operational
//! events commit in the transaction of the write that raised them (`outbox`). Unlike SQLite, only the leases stamped with this node's own id are released at
//! start-up: other nodes are alive.
//!
//! The SQL itself lives in the child modules, one per resource; this file owns the pool,
//! migrations and the `Store` trait glue (long because the glue is one short method per
//! contract call).

mod catalog;
mod deliveries;
mod inbound;
mod listener;
mod logs;
mod messages;
mod outbox;
mod replay;
mod rows;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::FromSql;
use tokio_util::sync::CancellationToken;

use super::{
    ApplicationChange, ApplicationFilter, AttemptFilter, AttemptRecord, ClaimBudget,
    ClaimedDelivery, CreatedMessageAnswer, DisabledEndpoint, EndpointChange, EventTypeChange,
    HeldLease, IdempotentResponse, KeyClaim, MessageFilter, MessageInsert, Modified, NewEndpoint,
    NewMessage, Page, PageRequest, Store, StoreError,
};
use crate::domain::operational::OperationalEvent;
use crate::domain::{
    AppId, Application, ApplicationFields, Attempt, DeliveryId, Endpoint, EndpointId,
    EndpointSecret, EventType, EventTypeFields, EventTypeName, Message, MessageId, Secret,
    Timestamp,
};
use crate::policy::backpressure::CircuitPolicy;

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
}

impl PostgresStore {
    /// Connects to `database_url` (`postgres://...`), applies pending migrations, and starts the
    /// message writers. `node_id` names this node on the leases it takes.
    pub async fn open(database_url: &str, node_id: &str) -> Result<Self, StoreError> {
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
        Ok(PostgresStore {
            writer: writer::MessageWriter::start(pool.clone()),
            pool,
            connect_config,
            node_id: node_id.to_owned(),
            deliveries_added: Arc::new(Notify::new()),
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

#[async_trait]
impl Store for PostgresStore {
    fn deliveries_added(&self) -> Arc<Notify> {
        Arc::clone(&self.deliveries_added)
    }

    async fn create_application(
        &self,
        id: AppId,
        fields: ApplicationFields,
        now: Timestamp,
    ) -> Result<Application, StoreError> {
        catalog::insert_application(&self.client().await?, id, fields, now).await
    }

    async fn get_application(&self, id_or_uid: &str) -> Result<Option<Application>, StoreError> {
        catalog::find_application(&self.client().await?, id_or_uid).await
    }

    async fn list_applications(
        &self,
        page: PageRequest,
        filter: ApplicationFilter,
    ) -> Result<Page<Application>, StoreError> {
        catalog::list_applications(&self.client().await?, &page, &filter).await
    }

    async fn modify_application(
        &self,
        id_or_uid: &str,
        change: ApplicationChange,
        now: Timestamp,
    ) -> Result<Modified<Application>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let modified = catalog::modify_application(&transaction, id_or_uid, change, now).await?;
        // Only a saved change has anything to commit; dropping the transaction rolls back.
        if matches!(modified, Modified::Saved(_)) {
            transaction.commit().await.map_err(backend)?;
        }
        Ok(modified)
    }

    async fn delete_application(&self, id: &AppId) -> Result<bool, StoreError> {
        retry_on_deadlock(|| async { catalog::delete_application(&self.client().await?, id).await })
            .await
    }

    async fn create_endpoint(
        &self,
        app_id: &AppId,
        endpoint: NewEndpoint,
    ) -> Result<Endpoint, StoreError> {
        let now = endpoint.now;
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let endpoint = catalog::insert_endpoint(&transaction, app_id, endpoint).await?;
        let added = outbox::raise_endpoint_event(
            &transaction,
            app_id,
            &endpoint.id,
            OperationalEvent::EndpointCreated,
            now,
        )
        .await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(added);
        Ok(endpoint)
    }

    async fn get_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        catalog::find_endpoint(&self.client().await?, app_id, id_or_uid).await
    }

    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Endpoint>, StoreError> {
        catalog::list_endpoints(&self.client().await?, app_id, &page).await
    }

    async fn modify_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<Modified<Endpoint>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let modified =
            catalog::modify_endpoint(&transaction, app_id, id_or_uid, change, now).await?;
        // Only a saved change has anything to commit; dropping the transaction rolls back.
        if let Modified::Saved(endpoint) = &modified {
            let added = outbox::raise_endpoint_event(
                &transaction,
                app_id,
                &endpoint.id,
                OperationalEvent::EndpointUpdated,
                now,
            )
            .await?;
            transaction.commit().await.map_err(backend)?;
            self.committed(added);
        }
        Ok(modified)
    }

    async fn delete_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let added = retry_on_deadlock(|| async {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(backend)?;
            // Who the event is about is read before the row is gone.
            let Some(endpoint) = outbox::endpoint_ref(&transaction, app_id, id).await? else {
                return Ok(None);
            };
            if !catalog::delete_endpoint(&transaction, app_id, id).await? {
                return Ok(None);
            }
            let added = outbox::raise(
                &transaction,
                &[OperationalEvent::EndpointDeleted(endpoint)],
                now,
            )
            .await?;
            transaction.commit().await.map_err(backend)?;
            Ok(Some(added))
        })
        .await?;
        Ok(added.inspect(|added| self.committed(*added)).is_some())
    }

    async fn endpoint_secrets(
        &self,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<Vec<EndpointSecret>, StoreError> {
        catalog::endpoint_secrets(&self.client().await?, id, now).await
    }

    async fn rotate_endpoint_secret(
        &self,
        id: &EndpointId,
        new_key: Secret,
        old_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        catalog::rotate_endpoint_secret(&transaction, id, new_key, old_expires_at, now).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn create_event_type(
        &self,
        name: EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<EventType, StoreError> {
        catalog::insert_event_type(&self.client().await?, name, fields, now).await
    }

    async fn get_event_type(&self, name: &EventTypeName) -> Result<Option<EventType>, StoreError> {
        catalog::find_event_type(&self.client().await?, name).await
    }

    async fn list_event_types(
        &self,
        page: PageRequest,
        include_archived: bool,
    ) -> Result<Page<EventType>, StoreError> {
        catalog::list_event_types(&self.client().await?, &page, include_archived).await
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<Option<EventType>, StoreError> {
        catalog::update_event_type(&self.client().await?, name, fields, now).await
    }

    async fn modify_event_type(
        &self,
        name: &EventTypeName,
        change: EventTypeChange,
        now: Timestamp,
    ) -> Result<Modified<EventType>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let modified = catalog::modify_event_type(&transaction, name, change, now).await?;
        // Only a saved change has anything to commit; dropping the transaction rolls back.
        if matches!(modified, Modified::Saved(_)) {
            transaction.commit().await.map_err(backend)?;
        }
        Ok(modified)
    }

    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool, StoreError> {
        catalog::delete_event_type(&self.client().await?, name).await
    }

    async fn create_message(&self, message: NewMessage) -> Result<MessageInsert, StoreError> {
        let inserted = self.writer.write(message).await?;
        if let MessageInsert::Created { deliveries, .. } = &inserted {
            self.committed(*deliveries);
        }
        Ok(inserted)
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id_or_event_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        messages::find_message(&self.client().await?, app_id, id_or_event_id).await
    }

    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        messages::list_messages(&self.client().await?, app_id, &filter, &page).await
    }

    async fn list_attempts(
        &self,
        app_id: &AppId,
        msg_id: Option<&MessageId>,
        filter: AttemptFilter,
        page: PageRequest,
    ) -> Result<Page<Attempt>, StoreError> {
        messages::list_attempts(&self.client().await?, app_id, msg_id, &filter, &page).await
    }

    async fn enqueue_resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> Result<DeliveryId, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let delivery_id =
            deliveries::enqueue_resend(&transaction, app_id, msg_id, endpoint_id, now).await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(1);
        Ok(delivery_id)
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        budget: ClaimBudget,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let claimed =
            deliveries::claim_due(&transaction, &self.node_id, now, lease, &budget).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(claimed)
    }

    async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
        circuit: CircuitPolicy,
    ) -> Result<Vec<DisabledEndpoint>, StoreError> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let disabled = deliveries::record_attempts(&transaction, &records, &circuit).await?;
        let mut events = super::outbox::attempt_events(&records);
        events.extend(super::outbox::disabled_events(&disabled));
        let added = match super::outbox::recorded_at(&records) {
            Some(now) => outbox::raise(&transaction, &events, now).await?,
            None => 0,
        };
        transaction.commit().await.map_err(backend)?;
        self.committed(added);
        Ok(disabled)
    }

    async fn release_deliveries(&self, ids: Vec<DeliveryId>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        deliveries::release(&transaction, &self.node_id, &ids).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn renew_leases(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        deliveries::renew(&self.client().await?, &self.node_id, &leases, until).await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError> {
        deliveries::next_due_at(&self.client().await?).await
    }

    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_digest: &str,
        now: Timestamp,
        abandon_after: Duration,
        remember_for: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let claim = catalog::claim_idempotency_key(
            &transaction,
            key,
            request_digest,
            now,
            abandon_after,
            remember_for,
        )
        .await?;
        transaction.commit().await.map_err(backend)?;
        Ok(claim)
    }

    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        catalog::release_idempotency_key(&self.client().await?, key).await
    }

    async fn put_idempotent_response(
        &self,
        key: &str,
        response: IdempotentResponse,
        created_message: Option<CreatedMessageAnswer>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        catalog::put_idempotent_response(&transaction, key, response, created_message, now).await?;
        transaction.commit().await.map_err(backend)
    }

    async fn purge_idempotency_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        catalog::purge_idempotency_before(&self.client().await?, cutoff, limit).await
    }

    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        catalog::get_setting(&self.client().await?, name).await
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        catalog::put_setting(&self.client().await?, name, value).await
    }

    async fn expunge_message_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let expunged = logs::expunge_message_content(&transaction, app_id, msg_id).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(expunged)
    }

    async fn purge_payloads_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let purged = logs::purge_payloads_before(&transaction, cutoff, limit).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(purged)
    }

    async fn purge_attempt_bodies_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        logs::purge_attempt_bodies_before(&self.client().await?, cutoff, limit).await
    }

    async fn get_attempt(
        &self,
        app_id: &AppId,
        attempt_id: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        logs::find_attempt(&self.client().await?, app_id, attempt_id).await
    }

    async fn list_message_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: PageRequest,
    ) -> Result<Page<super::logs::Destination>, StoreError> {
        logs::list_destinations(&self.client().await?, app_id, msg_id, &page).await
    }

    async fn list_dead_letters(
        &self,
        app_id: &AppId,
        filter: super::logs::DeadLetterFilter,
        page: PageRequest,
    ) -> Result<Page<super::logs::DeadLetter>, StoreError> {
        logs::list_dead_letters(&self.client().await?, app_id, &filter, &page).await
    }

    async fn count_dead_letters(
        &self,
        app_id: &AppId,
    ) -> Result<Vec<super::logs::DeadLetterGroup>, StoreError> {
        logs::count_dead_letters(&self.client().await?, app_id).await
    }

    async fn count_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<super::logs::DeliveryCounts, StoreError> {
        logs::count_endpoint_deliveries(&self.client().await?, endpoint_id, since, until).await
    }

    async fn sample_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        since: Timestamp,
    ) -> Result<Vec<super::logs::AttemptSample>, StoreError> {
        logs::sample_endpoint_attempts(&self.client().await?, endpoint_id, since).await
    }

    async fn replay_message(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let queued = replay::replay_message(&transaction, app_id, msg_id, now).await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(queued);
        Ok(queued)
    }

    async fn count_replay(&self, filter: super::ReplayFilter) -> Result<u64, StoreError> {
        replay::count_replay(&self.client().await?, &filter).await
    }

    async fn create_background_task(
        &self,
        task: super::NewBackgroundTask,
    ) -> Result<(), StoreError> {
        replay::create_task(&self.client().await?, task).await
    }

    async fn get_background_task(
        &self,
        id: &crate::domain::BackgroundTaskId,
    ) -> Result<Option<super::BackgroundTask>, StoreError> {
        replay::find_task(&self.client().await?, id).await
    }

    async fn list_background_tasks(
        &self,
        status: Option<crate::domain::BackgroundTaskStatus>,
        kind: Option<crate::domain::BackgroundTaskKind>,
        page: PageRequest,
    ) -> Result<Page<super::BackgroundTask>, StoreError> {
        replay::list_tasks(&self.client().await?, status, kind, &page).await
    }

    async fn claim_background_task(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<super::ClaimedBackgroundTask>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let claimed = replay::claim_task(&transaction, now, lease_until).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(claimed)
    }

    async fn run_replay_batch(
        &self,
        step: super::ReplayStep,
    ) -> Result<super::ReplayProgress, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let progress = replay::run_batch(&transaction, &step).await?;
        transaction.commit().await.map_err(backend)?;
        if let super::ReplayProgress::Queued(queued) | super::ReplayProgress::Finished(queued) =
            progress
        {
            self.committed(queued);
        }
        Ok(progress)
    }

    async fn fail_background_task(
        &self,
        claim: &super::ClaimedBackgroundTask,
        error: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        replay::fail_task(&self.client().await?, claim, &error, now).await
    }
}
