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
//! Each aggregate's SQL and its part of the contract (`impl ApplicationStore for SqliteStore`,
//! ...) live together in one child module; the writer thread is `writer`. This file owns the
//! connections, the migrations, and what every module shares: `write`, `read` and the mapping
//! of SQLite's errors.

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
mod logs;
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

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use tokio::sync::{Notify, oneshot};

use super::parsed_filters::ParsedFilters;
use super::sealing::Sealing;
use super::{Store, StoreError};
use crate::telemetry::instruments::CommitInstruments;
use writer::{QueuedJob, adding_savepoint_job, is_disk_full, run_writer};

/// Read connections kept open for reuse.
const MAX_IDLE_READERS: usize = 16;

/// The SQLite store. Dropping the last handle stops the writer thread after it drains its queue.
pub struct SqliteStore {
    /// Held for the store's lifetime: one process per data directory (`None` only for
    /// `open_beside_server`).
    _lock: Option<std::fs::File>,
    jobs: Mutex<Option<mpsc::Sender<QueuedJob>>>,
    path: std::path::PathBuf,
    readers: Arc<Mutex<Vec<Connection>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Notified by the writer after a commit whose jobs added deliveries.
    deliveries_added: Arc<Notify>,
    /// How secret columns are sealed and opened (`store::sealing`).
    sealing: Arc<Sealing>,
    /// Endpoints' content filters as fan-out has parsed them (`store::parsed_filters`).
    filters: Arc<ParsedFilters>,
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
        Self::open_with(data_dir, Sealing::plain(), CommitInstruments::unrecorded())
    }

    /// `open`, with secret columns sealed and opened by `sealing`, and the writer's commits
    /// recorded in `commits`.
    pub fn open_with(
        data_dir: &Path,
        sealing: Sealing,
        commits: CommitInstruments,
    ) -> Result<Self, StoreError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(data_dir)
            .map_err(backend)?;
        let lock = private_file(&data_dir.join("hookd.lock"))?;
        lock.try_lock().map_err(|_| StoreError::Locked)?;
        let path = data_dir.join("hookd.db");
        Self::start(Some(lock), path, sealing, commits)
    }

    /// Opens the database of a data directory that a running `hookd serve` holds, for
    /// `hookd rotate-key`: no migration and no lease release (those belong to the server),
    /// only short transactions that SQLite's own locking serialises with the server's writer.
    /// The schema must be the one this binary writes.
    pub fn open_beside_server(data_dir: &Path, sealing: Sealing) -> Result<Self, StoreError> {
        let path = data_dir.join("hookd.db");
        if !path.exists() {
            return Err(StoreError::NotFound("no hookd.db in the data directory"));
        }
        let connection = open_connection(&path)?;
        let version: i64 = connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(backend)?;
        if usize::try_from(version).ok() != Some(MIGRATIONS.len()) {
            return Err(StoreError::Conflict(format!(
                "the database schema is version {version} and this hookd writes version {}: \
                 run rotate-key with the same hookd version as the server",
                MIGRATIONS.len()
            )));
        }
        drop(connection);
        Self::start(None, path, sealing, CommitInstruments::unrecorded())
    }

    fn start(
        lock: Option<std::fs::File>,
        path: std::path::PathBuf,
        sealing: Sealing,
        commits: CommitInstruments,
    ) -> Result<Self, StoreError> {
        let migrate_and_release = lock.is_some();
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
        let writer_connection = open_writer_connection(&path)?;
        if migrate_and_release {
            migrate(&writer_connection)?;
            deliveries::release_all_leases(&writer_connection)?;
        }
        let (sender, receiver) = mpsc::channel::<QueuedJob>();
        let deliveries_added = Arc::new(Notify::new());
        let wake = Arc::clone(&deliveries_added);
        let writer = std::thread::Builder::new()
            .name("hookd-sqlite-writer".into())
            .spawn(move || run_writer(writer_connection, receiver, &wake, &commits))
            .map_err(backend)?;
        Ok(SqliteStore {
            _lock: lock,
            jobs: Mutex::new(Some(sender)),
            path,
            readers: Arc::new(Mutex::new(Vec::new())),
            writer: Mutex::new(Some(writer)),
            deliveries_added,
            sealing: Arc::new(sealing),
            filters: Arc::new(ParsedFilters::default()),
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
        sender
            .send(QueuedJob::new(job))
            .map_err(|_| StoreError::Unavailable)?;
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
    // Plans must not depend on bound values. Without the query planner stability guarantee,
    // SQLite 3.54 plans a `LIMIT ?` from its bound value (and a `x = ?` from whether it is 0 or
    // 1, and a partial index from the bound value it is compared with), and then re-prepares the
    // statement each time a different value is bound: a cached statement is parsed and planned
    // again on nearly every claim.
    connection
        .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
        .map_err(backend)?;
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

/// The writer's connection. Each job runs in a savepoint, whose journal keeps the original of
/// every page the job changes; past 64 KiB SQLite moves that journal to a temporary file, which
/// made a job that stores one message open, write and close a file in the temp directory. The
/// writer keeps its temporary data in memory instead: a savepoint journal holds only the pages
/// of one job, and a batch's jobs are bounded (`MAX_JOBS_PER_COMMIT`).
fn open_writer_connection(path: &Path) -> Result<Connection, StoreError> {
    let connection = open_connection(path)?;
    connection
        .execute_batch("PRAGMA temp_store = MEMORY;")
        .map_err(backend)?;
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
    include_str!("schema_9.sql"),
    include_str!("schema_10.sql"),
    include_str!("schema_11.sql"),
    include_str!("schema_12.sql"),
    include_str!("schema_erasure.sql"),
    include_str!("schema_polling.sql"),
    include_str!("schema_content_filters.sql"),
    include_str!("schema_payload_validation.sql"),
    include_str!("schema_transformations.sql"),
    include_str!("schema_sealed_answers.sql"),
    include_str!("schema_integrations.sql"),
    include_str!("schema_token_grants.sql"),
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

impl Store for SqliteStore {
    fn deliveries_added(&self) -> Arc<Notify> {
        Arc::clone(&self.deliveries_added)
    }
}

/// Maps a unique-constraint violation to `Conflict` with a message for the client. Other
/// constraint violations are not conflicts: a foreign key, for one, means the parent is gone.
fn unique(message: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match extended_code(&error) {
        Some(
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
        ) => StoreError::Conflict(message.to_owned()),
        _ => backend(error),
    }
}

/// Maps a foreign-key violation to `NotFound`: the row an insert refers to was deleted (by a
/// concurrent request) before the insert ran.
pub fn missing_parent(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match extended_code(&error) {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound(what),
        _ => backend(error),
    }
}

/// `unique` and `missing_parent` together, for inserts that can hit both.
fn unique_or_missing_parent(
    conflict: &'static str,
    what: &'static str,
) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match extended_code(&error) {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound(what),
        _ => unique(conflict)(error),
    }
}

fn extended_code(error: &rusqlite::Error) -> Option<std::ffi::c_int> {
    error.sqlite_error().map(|failure| failure.extended_code)
}

#[cfg(test)]
mod tests;
