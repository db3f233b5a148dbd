//! The SQLite writer thread: group commit. Every write is a job; the writer takes all the jobs
//! waiting in its queue, runs each in its own savepoint of one `BEGIN IMMEDIATE` transaction,
//! commits once, and only then answers each caller (see the module docs of `sqlite` for the
//! batch-failure rule). After a commit whose jobs added deliveries it notifies
//! `deliveries_added`, so the engine never needs a caller to wake it. Each committed batch's
//! duration (`BEGIN` to `COMMIT`) and size go to the commit instruments.
//!
//! Each batch runs in a span `store.commit` of its own (a root: it serves many requests at
//! once, so it has no one parent) that `follows_from` the span of every job's caller (the
//! `ops.*` span of the request that queued it), which OpenTelemetry shows as the batch span's
//! links to each request's span.

use std::sync::Arc;
use std::sync::mpsc;

use rusqlite::Connection;
use tokio::sync::Notify;
use tracing::Span;

use crate::store::StoreError;
use crate::telemetry::ErrorChain;
use crate::telemetry::instruments::CommitInstruments;

/// The most jobs one commit takes; more wait for the next commit.
const MAX_JOBS_PER_COMMIT: usize = 2048;

/// How a batch ended: committed, or failed as a whole.
type BatchResult = Result<(), BatchFailure>;
/// Answers one caller once its batch has ended.
type Reply = Box<dyn FnOnce(BatchResult) + Send>;
/// One write: runs inside the batch transaction and reports what it did (`JobRan`).
pub(super) type Job = Box<dyn FnOnce(&Connection) -> JobRan + Send>;

/// A job as queued: with the span it was queued from, which its batch's span follows from.
pub(super) struct QueuedJob {
    pub(super) caller: Span,
    pub(super) job: Job,
}

impl QueuedJob {
    /// `job`, queued from the current span.
    pub(super) fn new(job: Job) -> Self {
        QueuedJob {
            caller: Span::current(),
            job,
        }
    }
}

/// What a job that ran hands back to the writer.
pub(super) struct JobRan {
    reply: Reply,
    /// Whether it left the batch transaction sound (`Err` means the batch can no longer commit
    /// what its jobs did).
    effect: BatchResult,
    /// It added deliveries (or made some due now): once the batch commits, the engine is woken.
    added_deliveries: bool,
}

/// Why a whole batch failed. Every job that ran in it is answered with this, because none of
/// their work is kept.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{what}")]
struct BatchFailure {
    what: &'static str,
    /// The disk filled up: the same writes can succeed once space is freed.
    disk_full: bool,
    #[source]
    cause: Arc<dyn std::error::Error + Send + Sync>,
}

impl BatchFailure {
    fn new(what: &'static str, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        BatchFailure {
            what,
            disk_full: is_disk_full(&cause),
            cause: Arc::new(cause),
        }
    }

    fn to_store_error(&self) -> StoreError {
        if self.disk_full {
            StoreError::StorageFull(Box::new(self.clone()))
        } else {
            StoreError::Backend(Box::new(self.clone()))
        }
    }
}

/// Whether `error`, or any error below it, is SQLite's "database or disk is full".
pub(super) fn is_disk_full(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(rusqlite::Error::SqliteFailure(failure, _)) = error.downcast_ref()
            && failure.code == rusqlite::ErrorCode::DiskFull
        {
            return true;
        }
        if let Some(StoreError::StorageFull(_)) = error.downcast_ref() {
            return true;
        }
        next = error.source();
    }
    false
}

/// Runs one transaction-control statement from the statement cache: these run for every job,
/// and parsing them each time showed up in profiles.
fn control(connection: &Connection, sql: &str) -> rusqlite::Result<()> {
    connection.prepare_cached(sql)?.execute([]).map(|_| ())
}

/// Wraps `work` as a writer job that runs in its own savepoint and hands its outcome to `answer`
/// once the batch has ended.
#[cfg(test)]
pub(super) fn savepoint_job<T, F>(
    work: F,
    answer: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
{
    adding_savepoint_job(move |c| work(c).map(|value| (value, 0)), answer)
}

/// `savepoint_job` for work that also says how many deliveries it added.
pub(super) fn adding_savepoint_job<T, F>(
    work: F,
    answer: impl FnOnce(Result<T, StoreError>) + Send + 'static,
) -> Job
where
    T: Send + 'static,
    F: FnOnce(&Connection) -> Result<(T, usize), StoreError> + Send + 'static,
{
    Box::new(move |connection| {
        let (result, effect) = in_savepoint(connection, work);
        let added_deliveries = matches!(result, Ok((_, added)) if added > 0);
        let reply: Reply = Box::new(move |batch: BatchResult| {
            answer(match (result, batch) {
                (Err(error), _) => Err(error),
                (Ok((value, _)), Ok(())) => Ok(value),
                (Ok(_), Err(failure)) => Err(failure.to_store_error()),
            });
        });
        JobRan {
            reply,
            effect,
            added_deliveries,
        }
    })
}

/// Runs `work` in a savepoint of the open batch transaction. A failing job rolls back alone,
/// unless its failure took the whole transaction with it or the savepoint cannot be settled:
/// then the second value is `Err` and the batch must not commit.
fn in_savepoint<T>(
    connection: &Connection,
    work: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> (Result<T, StoreError>, BatchResult) {
    let broken = |failure: BatchFailure| (Err(failure.to_store_error()), Err(failure));
    if let Err(error) = control(connection, "SAVEPOINT job") {
        return broken(BatchFailure::new("could not open a job's savepoint", error));
    }
    let result = work(connection);
    // Some failures (a full disk among them) make SQLite roll back the whole transaction, and
    // the earlier jobs' work with it. A `SAVEPOINT` after that would silently open a new
    // transaction and the final `COMMIT` would answer those jobs OK, so the batch ends here.
    if connection.is_autocommit() {
        return broken(match result {
            Err(error) => BatchFailure::new("a job's failure rolled back its batch", error),
            Ok(_) => BatchFailure::new(
                "a job ended its batch's transaction",
                StoreError::Backend("the transaction is gone after a job that succeeded".into()),
            ),
        });
    }
    let settled = if result.is_err() {
        control(connection, "ROLLBACK TO job").and_then(|()| control(connection, "RELEASE job"))
    } else {
        control(connection, "RELEASE job")
    };
    match settled {
        Ok(()) => (result, Ok(())),
        Err(error) => broken(BatchFailure::new(
            "could not settle a job's savepoint",
            error,
        )),
    }
}

/// The writer loop: wait for a job, take every job already queued, run them in one transaction,
/// commit, answer, and wake the engine if the commit kept new deliveries. Ends when every
/// sender is gone and the queue is empty.
pub(super) fn run_writer(
    connection: Connection,
    jobs: mpsc::Receiver<QueuedJob>,
    deliveries_added: &Notify,
    commits: &CommitInstruments,
) {
    // Jobs that a failed batch never got to: they did nothing yet, so they go first next time.
    let mut not_run: Vec<QueuedJob> = Vec::new();
    loop {
        let mut batch = std::mem::take(&mut not_run);
        if batch.is_empty() {
            match jobs.recv() {
                Ok(first) => batch.push(first),
                Err(_) => return,
            }
        }
        while batch.len() < MAX_JOBS_PER_COMMIT {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let span = commit_span(&batch);
        let _entered = span.enter();
        let began = std::time::Instant::now();
        if let Err(error) = control(&connection, "BEGIN IMMEDIATE") {
            tracing::error!(error = %ErrorChain(&error), "could not begin a write transaction");
            // Dropping the jobs unrun drops their answer channels: each caller gets
            // `StoreError::Unavailable`.
            drop(batch);
            continue;
        }
        let (replies, outcome, added_deliveries, rest) = run_batch(&connection, batch);
        not_run = rest;
        if let Err(failure) = &outcome {
            tracing::error!(
                error = %failure,
                cause = %failure.cause,
                disk_full = failure.disk_full,
                jobs = replies.len(),
                "a write batch failed; every job in it is answered with the failure"
            );
        }
        let committed = outcome.is_ok();
        span.record("committed", committed);
        if committed {
            commits.duration.record(began.elapsed().as_secs_f64());
            commits.batch_size.record(replies.len() as f64);
        }
        for reply in replies {
            reply(outcome.clone());
        }
        if committed && added_deliveries {
            deliveries_added.notify_one();
        }
    }
}

/// The span of one batch: its size, and a link to each job's caller.
fn commit_span(batch: &[QueuedJob]) -> Span {
    let span = tracing::info_span!(
        parent: None,
        "store.commit",
        backend = "sqlite",
        jobs = batch.len(),
        committed = tracing::field::Empty
    );
    for queued in batch {
        span.follows_from(&queued.caller);
    }
    span
}

/// Runs the jobs of one batch in the open transaction, then commits, or rolls back if a job
/// broke the transaction or the commit failed. Returns the replies of the jobs that ran, how
/// the batch ended, whether a job added deliveries, and the jobs it did not run (everything
/// after a job that broke it).
fn run_batch(
    connection: &Connection,
    batch: Vec<QueuedJob>,
) -> (Vec<Reply>, BatchResult, bool, Vec<QueuedJob>) {
    let mut replies = Vec::with_capacity(batch.len());
    let mut jobs = batch.into_iter();
    let mut outcome = Ok(());
    let mut added_deliveries = false;
    for queued in jobs.by_ref() {
        let ran = (queued.job)(connection);
        replies.push(ran.reply);
        added_deliveries |= ran.added_deliveries;
        if ran.effect.is_err() {
            outcome = ran.effect;
            break;
        }
    }
    if outcome.is_ok() {
        outcome = control(connection, "COMMIT")
            .map_err(|error| BatchFailure::new("could not commit a write batch", error));
    }
    if outcome.is_err()
        && !connection.is_autocommit()
        && let Err(error) = control(connection, "ROLLBACK")
    {
        tracing::error!(error = %ErrorChain(&error), "could not roll back a failed write batch");
    }
    (replies, outcome, added_deliveries, jobs.collect())
}
