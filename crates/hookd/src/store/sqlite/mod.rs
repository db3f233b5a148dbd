//! The embedded SQLite backend: one writer thread with group commit, and a small pool of readers.
//!
//! Every write is a job sent to the single writer thread. The writer takes all the jobs waiting
//! in its queue, runs each inside its own savepoint of one `BEGIN IMMEDIATE` transaction, commits
//! once (one fsync for the whole batch, `synchronous=FULL`), and only then answers each caller. A
//! job that fails rolls back to its savepoint and does not disturb the others, unless its failure
//! took the batch transaction with it (SQLite does that on a full disk) or its savepoint cannot
//! be settled: then every job that ran in the batch fails, and the jobs not yet run go to the
//! next batch. A full disk is `StoreError::StorageFull`, retryable once space is freed. This is what lets
//! thousands of concurrent API requests share one durable commit. Reads run on pooled connections
//! in WAL mode and never wait for the writer.
//!
//! After a commit whose jobs added deliveries (their own, or those of the operational events
//! they raised in the same savepoint, see `outbox`), the writer notifies `deliveries_added`,
//! which the dispatcher waits on.
//!
//! The SQL itself lives in the child modules, one per resource, and the writer thread in
//! `writer`; this file owns connections and the `Store` trait glue (long because the glue is
//! one short method per contract call).

mod catalog;
mod deliveries;
mod inbound;
mod logs;
mod messages;
mod outbox;
mod replay;
mod rows;
mod writer;

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::Connection;
use tokio::sync::{Notify, oneshot};

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
use writer::{Job, adding_savepoint_job, is_disk_full, run_writer};

/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 16;

/// The SQLite store. Dropping the last handle stops the writer thread after it drains its queue.
pub struct SqliteStore {
    /// Held for the store's lifetime: one process per data directory.
    _lock: std::fs::File,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    path: std::path::PathBuf,
    readers: Arc<Mutex<Vec<Connection>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Notified by the writer after a commit whose jobs added deliveries.
    deliveries_added: Arc<Notify>,
}

impl SqliteStore {
    /// Opens (creating if needed) `hookd.db` in `data_dir` and applies the schema. A new data
    /// directory is created 0700, and the database, its -wal and -shm files and the lock file
    /// are 0600: they hold signing secrets and outbound credentials.
    ///
    /// SQLite is the single-node backend, so the data directory is locked for the life of the
    /// store. That makes every lease found at start-up a lease of a process that is gone: they
    /// are released at once instead of waiting out their time.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(backend)?;
        let lock = private_file(&data_dir.join("hookd.lock"))?;
        lock.try_lock().map_err(|_| StoreError::Locked)?;
        let path = data_dir.join("hookd.db");
        // SQLite gives the -wal and -shm files the mode of the database file, so creating that
        // one 0600 before SQLite opens it covers all three; ones an older hookd left readable
        // are tightened here.
        drop(private_file(&path)?);
        for suffix in ["-wal", "-shm"] {
            let mut companion = path.as_os_str().to_owned();
            companion.push(suffix);
            match std::fs::set_permissions(&companion, std::fs::Permissions::from_mode(0o600)) {
                Ok(()) => {}
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(backend(error)),
            }
        }
        let writer_connection = open_connection(&path)?;
        migrate(&writer_connection)?;
        deliveries::release_all_leases(&writer_connection)?;
        let (sender, receiver) = mpsc::channel::<Job>();
        let deliveries_added = Arc::new(Notify::new());
        let wake = Arc::clone(&deliveries_added);
        let writer = std::thread::Builder::new()
            .name("hookd-sqlite-writer".into())
            .spawn(move || run_writer(writer_connection, receiver, &wake))
            .map_err(backend)?;
        Ok(SqliteStore {
            _lock: lock,
            jobs: Mutex::new(Some(sender)),
            path,
            readers: Arc::new(Mutex::new(Vec::new())),
            writer: Mutex::new(Some(writer)),
            deliveries_added,
        })
    }

    /// Stops accepting writes, lets the writer finish what is queued, and waits for it.
    pub fn close(&self) {
        self.jobs.lock().expect("sqlite job lock").take();
        if let Some(handle) = self.writer.lock().expect("sqlite writer lock").take() {
            let _ = handle.join();
        }
    }

    /// Runs `work` in the next group commit and answers once that commit is durable.
    async fn write<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        self.write_adding(move |c| work(c).map(|value| (value, 0)))
            .await
    }

    /// `write` for work that may add deliveries: it returns how many it added (its own or its
    /// operational events'), and a commit that keeps any wakes the engine.
    async fn write_adding<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<(T, usize), StoreError> + Send + 'static,
    {
        let (answer, answered) = oneshot::channel();
        let job = adding_savepoint_job(work, move |outcome| {
            let _ = answer.send(outcome);
        });
        let sender = self
            .jobs
            .lock()
            .expect("sqlite job lock")
            .clone()
            .ok_or(StoreError::Unavailable)?;
        sender.send(job).map_err(|_| StoreError::Unavailable)?;
        answered.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Runs `work` on a pooled read connection on the blocking thread pool.
    async fn read<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let readers = Arc::clone(&self.readers);
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = readers.lock().expect("sqlite reader lock").pop();
            let connection = match pooled {
                Some(connection) => connection,
                None => open_connection(&path)?,
            };
            let result = work(&connection);
            let mut idle = readers.lock().expect("sqlite reader lock");
            if idle.len() < MAX_IDLE_READERS {
                idle.push(connection);
            }
            result
        })
        .await
        .map_err(backend)?
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.close();
    }
}

/// Opens (creating if needed) a file only its owner may read or write: the database holds
/// signing secrets and outbound credentials. A file left readable by an older hookd is
/// tightened.
fn private_file(path: &Path) -> Result<std::fs::File, StoreError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(backend)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(backend)?;
    Ok(file)
}

/// Wraps a SQLite failure, telling a full disk (retryable once space is freed) from the rest.
fn backend(error: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    if is_disk_full(&error) {
        StoreError::StorageFull(Box::new(error))
    } else {
        StoreError::Backend(Box::new(error))
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path).map_err(backend)?;
    connection
        .busy_timeout(Duration::from_secs(10))
        .map_err(backend)?;
    // WAL lets readers run beside the writer; FULL makes every commit durable on return.
    connection
        .execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             PRAGMA foreign_keys = ON;",
        )
        .map_err(backend)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// Schema versions in order; `PRAGMA user_version` records how many have been applied.
const MIGRATIONS: &[&str] = &[
    include_str!("schema.sql"),
    include_str!("schema_2.sql"),
    include_str!("schema_3.sql"),
    include_str!("schema_4.sql"),
    include_str!("schema_5.sql"),
    include_str!("schema_6.sql"),
    include_str!("schema_7.sql"),
    include_str!("schema_8.sql"),
];

fn migrate(connection: &Connection) -> Result<(), StoreError> {
    let applied: i64 = connection
        .query_row("PRAGMA user_version", [], |row| row.get(0))
        .map_err(backend)?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
        let version = index + 1;
        connection
            .execute_batch(&format!(
                "BEGIN; {migration}; PRAGMA user_version = {version}; COMMIT;"
            ))
            .map_err(backend)?;
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    fn deliveries_added(&self) -> Arc<Notify> {
        Arc::clone(&self.deliveries_added)
    }

    async fn create_application(
        &self,
        id: AppId,
        fields: ApplicationFields,
        now: Timestamp,
    ) -> Result<Application, StoreError> {
        self.write(move |c| catalog::insert_application(c, id, fields, now))
            .await
    }

    async fn get_application(&self, id_or_uid: &str) -> Result<Option<Application>, StoreError> {
        let key = id_or_uid.to_owned();
        self.read(move |c| catalog::find_application(c, &key)).await
    }

    async fn list_applications(
        &self,
        page: PageRequest,
        filter: ApplicationFilter,
    ) -> Result<Page<Application>, StoreError> {
        self.read(move |c| catalog::list_applications(c, &page, &filter))
            .await
    }

    async fn modify_application(
        &self,
        id_or_uid: &str,
        change: ApplicationChange,
        now: Timestamp,
    ) -> Result<Modified<Application>, StoreError> {
        let key = id_or_uid.to_owned();
        self.write(move |c| catalog::modify_application(c, &key, change, now))
            .await
    }

    async fn delete_application(&self, id: &AppId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write(move |c| catalog::delete_application(c, &id))
            .await
    }

    async fn create_endpoint(
        &self,
        app_id: &AppId,
        endpoint: NewEndpoint,
    ) -> Result<Endpoint, StoreError> {
        let app_id = app_id.clone();
        let now = endpoint.now;
        self.write_adding(move |c| {
            let endpoint = catalog::insert_endpoint(c, &app_id, endpoint)?;
            let added = outbox::raise_endpoint_event(
                c,
                &app_id,
                &endpoint.id,
                OperationalEvent::EndpointCreated,
                now,
            )?;
            Ok((endpoint, added))
        })
        .await
    }

    async fn get_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let (app_id, key) = (app_id.clone(), id_or_uid.to_owned());
        self.read(move |c| catalog::find_endpoint(c, &app_id, &key))
            .await
    }

    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Endpoint>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| catalog::list_endpoints(c, &app_id, &page))
            .await
    }

    async fn modify_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<Modified<Endpoint>, StoreError> {
        let (app_id, key) = (app_id.clone(), id_or_uid.to_owned());
        self.write_adding(move |c| {
            let modified = catalog::modify_endpoint(c, &app_id, &key, change, now)?;
            let added = match &modified {
                Modified::Saved(endpoint) => outbox::raise_endpoint_event(
                    c,
                    &app_id,
                    &endpoint.id,
                    OperationalEvent::EndpointUpdated,
                    now,
                )?,
                Modified::Missing | Modified::Refused(_) => 0,
            };
            Ok((modified, added))
        })
        .await
    }

    async fn delete_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.write_adding(move |c| {
            // Who the event is about is read before the row is gone.
            let endpoint = outbox::endpoint_ref(c, &app_id, &id)?;
            let deleted = catalog::delete_endpoint(c, &app_id, &id)?;
            let added = match endpoint {
                Some(endpoint) if deleted => {
                    outbox::raise(c, &[OperationalEvent::EndpointDeleted(endpoint)], now)?
                }
                _ => 0,
            };
            Ok((deleted, added))
        })
        .await
    }

    async fn endpoint_secrets(
        &self,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<Vec<EndpointSecret>, StoreError> {
        let id = id.clone();
        self.read(move |c| catalog::endpoint_secrets(c, &id, now))
            .await
    }

    async fn rotate_endpoint_secret(
        &self,
        id: &EndpointId,
        new_key: Secret,
        old_expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let id = id.clone();
        self.write(move |c| catalog::rotate_endpoint_secret(c, &id, new_key, old_expires_at, now))
            .await
    }

    async fn create_event_type(
        &self,
        name: EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<EventType, StoreError> {
        self.write(move |c| catalog::insert_event_type(c, name, fields, now))
            .await
    }

    async fn get_event_type(&self, name: &EventTypeName) -> Result<Option<EventType>, StoreError> {
        let name = name.clone();
        self.read(move |c| catalog::find_event_type(c, &name)).await
    }

    async fn list_event_types(
        &self,
        page: PageRequest,
        include_archived: bool,
    ) -> Result<Page<EventType>, StoreError> {
        self.read(move |c| catalog::list_event_types(c, &page, include_archived))
            .await
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<Option<EventType>, StoreError> {
        let name = name.clone();
        self.write(move |c| catalog::update_event_type(c, &name, fields, now))
            .await
    }

    async fn modify_event_type(
        &self,
        name: &EventTypeName,
        change: EventTypeChange,
        now: Timestamp,
    ) -> Result<Modified<EventType>, StoreError> {
        let name = name.clone();
        self.write(move |c| catalog::modify_event_type(c, &name, change, now))
            .await
    }

    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool, StoreError> {
        let name = name.clone();
        self.write(move |c| catalog::delete_event_type(c, &name))
            .await
    }

    async fn create_message(&self, message: NewMessage) -> Result<MessageInsert, StoreError> {
        self.write_adding(move |c| {
            let inserted = messages::insert_message(c, message)?;
            let added = match &inserted {
                MessageInsert::Created { deliveries, .. } => *deliveries,
                MessageInsert::Duplicate(_) => 0,
            };
            Ok((inserted, added))
        })
        .await
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id_or_event_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let (app_id, id) = (app_id.clone(), id_or_event_id.to_owned());
        self.read(move |c| messages::find_message(c, &app_id, &id))
            .await
    }

    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| messages::list_messages(c, &app_id, &filter, &page))
            .await
    }

    async fn list_attempts(
        &self,
        app_id: &AppId,
        msg_id: Option<&MessageId>,
        filter: AttemptFilter,
        page: PageRequest,
    ) -> Result<Page<Attempt>, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.cloned());
        self.read(move |c| messages::list_attempts(c, &app_id, msg_id.as_ref(), &filter, &page))
            .await
    }

    async fn enqueue_resend(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> Result<DeliveryId, StoreError> {
        let (app_id, msg_id, endpoint_id) = (app_id.clone(), msg_id.clone(), endpoint_id.clone());
        self.write_adding(move |c| {
            deliveries::enqueue_resend(c, &app_id, &msg_id, &endpoint_id, now)
                .map(|delivery_id| (delivery_id, 1))
        })
        .await
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        budget: ClaimBudget,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.write(move |c| deliveries::claim_due(c, now, lease, &budget))
            .await
    }

    async fn record_attempts(
        &self,
        records: Vec<AttemptRecord>,
        circuit: CircuitPolicy,
    ) -> Result<Vec<DisabledEndpoint>, StoreError> {
        self.write_adding(move |c| {
            // The events are decided from the records before the write consumes them.
            let recorded_at = super::outbox::recorded_at(&records);
            let mut events = super::outbox::attempt_events(&records);
            let disabled = deliveries::record_attempts(c, records, &circuit)?;
            events.extend(super::outbox::disabled_events(&disabled));
            let added = match recorded_at {
                Some(now) => outbox::raise(c, &events, now)?,
                None => 0,
            };
            Ok((disabled, added))
        })
        .await
    }

    async fn release_deliveries(&self, ids: Vec<DeliveryId>) -> Result<(), StoreError> {
        self.write(move |c| deliveries::release(c, &ids)).await
    }

    async fn renew_leases(
        &self,
        leases: Vec<HeldLease>,
        until: Timestamp,
    ) -> Result<Vec<DeliveryId>, StoreError> {
        if leases.is_empty() {
            return Ok(Vec::new());
        }
        self.write(move |c| deliveries::renew_leases(c, &leases, until))
            .await
    }

    async fn next_due_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.read(deliveries::next_due_at).await
    }

    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_digest: &str,
        now: Timestamp,
        abandon_after: Duration,
        remember_for: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let (key, digest) = (key.to_owned(), request_digest.to_owned());
        self.write(move |c| {
            catalog::claim_idempotency_key(c, &key, &digest, now, abandon_after, remember_for)
        })
        .await
    }

    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| catalog::release_idempotency_key(c, &key))
            .await
    }

    async fn put_idempotent_response(
        &self,
        key: &str,
        response: IdempotentResponse,
        created_message: Option<CreatedMessageAnswer>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| {
            catalog::put_idempotent_response(c, &key, response, created_message, now)
        })
        .await
    }

    async fn purge_idempotency_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Chosen on a reader so the writer only deletes rows by primary key.
        let keys = self
            .read(move |c| catalog::idempotency_keys_to_purge(c, cutoff, limit))
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        self.write(move |c| catalog::purge_idempotency(c, &keys, cutoff))
            .await
    }

    async fn get_setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        let name = name.to_owned();
        self.read(move |c| catalog::get_setting(c, &name)).await
    }

    async fn put_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let (name, value) = (name.to_owned(), value.to_owned());
        self.write(move |c| catalog::put_setting(c, &name, &value))
            .await
    }

    async fn expunge_message_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
    ) -> Result<bool, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.write(move |c| logs::expunge_message_content(c, &app_id, &msg_id))
            .await
    }

    async fn purge_payloads_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Chosen on a reader so the writer only updates rows by primary key.
        let ids = self
            .read(move |c| logs::messages_to_purge(c, cutoff, limit))
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.write(move |c| logs::purge_payloads(c, &ids)).await
    }

    async fn purge_attempt_bodies_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let ids = self
            .read(move |c| logs::attempts_to_purge(c, cutoff, limit))
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.write(move |c| logs::purge_attempt_bodies(c, &ids))
            .await
    }

    async fn get_attempt(
        &self,
        app_id: &AppId,
        attempt_id: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        let (app_id, attempt_id) = (app_id.clone(), attempt_id.to_owned());
        self.read(move |c| logs::find_attempt(c, &app_id, &attempt_id))
            .await
    }

    async fn list_message_destinations(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        page: PageRequest,
    ) -> Result<Page<super::logs::Destination>, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.read(move |c| logs::list_destinations(c, &app_id, &msg_id, &page))
            .await
    }

    async fn list_dead_letters(
        &self,
        app_id: &AppId,
        filter: super::logs::DeadLetterFilter,
        page: PageRequest,
    ) -> Result<Page<super::logs::DeadLetter>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| logs::list_dead_letters(c, &app_id, &filter, &page))
            .await
    }

    async fn count_dead_letters(
        &self,
        app_id: &AppId,
    ) -> Result<Vec<super::logs::DeadLetterGroup>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| logs::count_dead_letters(c, &app_id))
            .await
    }

    async fn count_endpoint_deliveries(
        &self,
        endpoint_id: &EndpointId,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<super::logs::DeliveryCounts, StoreError> {
        let endpoint_id = endpoint_id.clone();
        self.read(move |c| logs::count_endpoint_deliveries(c, &endpoint_id, since, until))
            .await
    }

    async fn sample_endpoint_attempts(
        &self,
        endpoint_id: &EndpointId,
        since: Timestamp,
    ) -> Result<Vec<super::logs::AttemptSample>, StoreError> {
        let endpoint_id = endpoint_id.clone();
        self.read(move |c| logs::sample_endpoint_attempts(c, &endpoint_id, since))
            .await
    }

    async fn replay_message(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.write_adding(move |c| {
            replay::replay_message(c, &app_id, &msg_id, now).map(|queued| (queued, queued))
        })
        .await
    }

    async fn count_replay(&self, filter: super::ReplayFilter) -> Result<u64, StoreError> {
        self.read(move |c| replay::count_replay(c, &filter)).await
    }

    async fn create_background_task(
        &self,
        task: super::NewBackgroundTask,
    ) -> Result<(), StoreError> {
        self.write(move |c| replay::create_task(c, task)).await
    }

    async fn get_background_task(
        &self,
        id: &crate::domain::BackgroundTaskId,
    ) -> Result<Option<super::BackgroundTask>, StoreError> {
        let id = id.clone();
        self.read(move |c| replay::find_task(c, &id)).await
    }

    async fn list_background_tasks(
        &self,
        status: Option<crate::domain::BackgroundTaskStatus>,
        kind: Option<crate::domain::BackgroundTaskKind>,
        page: PageRequest,
    ) -> Result<Page<super::BackgroundTask>, StoreError> {
        self.read(move |c| replay::list_tasks(c, status, kind, &page))
            .await
    }

    async fn claim_background_task(
        &self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> Result<Option<super::ClaimedBackgroundTask>, StoreError> {
        self.write(move |c| replay::claim_task(c, now, lease_until))
            .await
    }

    async fn run_replay_batch(
        &self,
        step: super::ReplayStep,
    ) -> Result<super::ReplayProgress, StoreError> {
        self.write_adding(move |c| {
            let progress = replay::run_batch(c, &step)?;
            let queued = match progress {
                super::ReplayProgress::Queued(queued) | super::ReplayProgress::Finished(queued) => {
                    queued
                }
                super::ReplayProgress::LeaseLost => 0,
            };
            Ok((progress, queued))
        })
        .await
    }

    async fn fail_background_task(
        &self,
        claim: &super::ClaimedBackgroundTask,
        error: String,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let claim = claim.clone();
        self.write(move |c| replay::fail_task(c, &claim, &error, now))
            .await
    }
}

#[cfg(test)]
mod tests;
