//! The client driver: runs one asynchronous operation (a request) many times, either as fast as a
//! fixed number of concurrent clients can (closed loop), or at a fixed offered rate (open loop),
//! and records when each request was sent and answered.
//!
//! It knows nothing about hookd or HTTP: the operation is a closure. Both modes are bounded in
//! request count and in time, and neither lets the number of requests in flight grow without
//! limit.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::progress::Progress;

/// One request that succeeded.
#[derive(Debug)]
pub struct Completed<T> {
    /// When the request was due to be sent: in the fixed-rate mode this is the schedule, not the
    /// moment the client got round to it, so a client that falls behind shows up as latency.
    pub sent_at: Instant,
    pub answered_at: Instant,
    pub output: T,
}

/// Everything one load phase produced.
#[derive(Debug)]
pub struct LoadRun<T> {
    pub completed: Vec<Completed<T>>,
    pub errors: u64,
    /// The first error, kept so that a run full of errors can say why.
    pub first_error: Option<String>,
    /// From the first request sent to the last one answered.
    pub elapsed: Duration,
}

/// Closed loop: `concurrency` clients, each sending its next request when the last is answered.
#[derive(Debug, Clone, Copy)]
pub struct ClosedLoop {
    pub concurrency: usize,
    pub total: u64,
    /// No new request is started after this much time.
    pub time_limit: Duration,
}

/// Open loop: requests start on a fixed schedule whatever the answers do.
#[derive(Debug, Clone, Copy)]
pub struct FixedRate {
    pub per_second: f64,
    pub total: u64,
    /// When this many are in flight, the schedule waits (and the wait counts as latency).
    pub max_in_flight: usize,
}

impl<T> LoadRun<T> {
    /// Successful requests per second.
    pub fn rate(&self) -> f64 {
        self.completed.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// How long each successful request took, from `sent_at` to its answer.
    pub fn request_latencies(&self) -> Vec<Duration> {
        self.completed
            .iter()
            .map(|request| request.answered_at - request.sent_at)
            .collect()
    }
}

/// Runs `operation(i)` for `i` in `0..total` with `concurrency` concurrent clients.
pub async fn run_closed_loop<T, F, Fut>(label: &str, shape: ClosedLoop, operation: F) -> LoadRun<T>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let operation = Arc::new(operation);
    let next_index = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(label, shape.total, counter(&done));
    let started = Instant::now();
    let deadline = started + shape.time_limit;

    let mut clients = JoinSet::new();
    for _ in 0..shape.concurrency.max(1) {
        let (operation, next_index, done) = (
            Arc::clone(&operation),
            Arc::clone(&next_index),
            Arc::clone(&done),
        );
        clients.spawn(async move {
            let mut outcome = PartialRun::default();
            loop {
                let index = next_index.fetch_add(1, Ordering::Relaxed);
                if index >= shape.total || Instant::now() >= deadline {
                    break outcome;
                }
                let sent_at = Instant::now();
                let result = operation(index).await;
                outcome.push(sent_at, Instant::now(), result);
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let mut run = PartialRun::default();
    while let Some(client) = clients.join_next().await {
        run.merge(client.expect("a load client panicked"));
    }
    drop(progress);
    run.finish(started.elapsed())
}

/// Starts `operation(i)` for `i` in `0..total` at `shape.per_second`, at most `max_in_flight` at
/// a time.
pub async fn run_fixed_rate<T, F, Fut>(label: &str, shape: FixedRate, operation: F) -> LoadRun<T>
where
    T: Send + 'static,
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let done = Arc::new(AtomicU64::new(0));
    let progress = Progress::start(label, shape.total, counter(&done));
    let slots = Arc::new(Semaphore::new(shape.max_in_flight.max(1)));
    let period = Duration::from_secs_f64(1.0 / shape.per_second.max(1e-3));
    let started = Instant::now();

    let mut requests = JoinSet::new();
    let mut run = PartialRun::default();
    for index in 0..shape.total {
        let sent_at = started + period.mul_f64(index as f64);
        tokio::time::sleep_until(sent_at.into()).await;
        let slot = Arc::clone(&slots)
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let request = operation(index);
        let done = Arc::clone(&done);
        requests.spawn(async move {
            let result = request.await;
            let answered_at = Instant::now();
            drop(slot);
            done.fetch_add(1, Ordering::Relaxed);
            (sent_at, answered_at, result)
        });
        while let Some(finished) = requests.try_join_next() {
            let (sent_at, answered_at, result) = finished.expect("a request task panicked");
            run.push(sent_at, answered_at, result);
        }
    }
    while let Some(finished) = requests.join_next().await {
        let (sent_at, answered_at, result) = finished.expect("a request task panicked");
        run.push(sent_at, answered_at, result);
    }
    drop(progress);
    run.finish(started.elapsed())
}

fn counter(done: &Arc<AtomicU64>) -> impl Fn() -> u64 + Send + 'static {
    let done = Arc::clone(done);
    move || done.load(Ordering::Relaxed)
}

/// What one client (or the whole fixed-rate loop) has gathered so far.
struct PartialRun<T> {
    completed: Vec<Completed<T>>,
    errors: u64,
    first_error: Option<String>,
}

impl<T> Default for PartialRun<T> {
    fn default() -> Self {
        PartialRun {
            completed: Vec::new(),
            errors: 0,
            first_error: None,
        }
    }
}

impl<T> PartialRun<T> {
    fn push(&mut self, sent_at: Instant, answered_at: Instant, result: anyhow::Result<T>) {
        match result {
            Ok(output) => self.completed.push(Completed {
                sent_at,
                answered_at,
                output,
            }),
            Err(error) => {
                self.errors += 1;
                self.first_error.get_or_insert_with(|| format!("{error:#}"));
            }
        }
    }

    fn merge(&mut self, other: PartialRun<T>) {
        self.completed.extend(other.completed);
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }

    fn finish(self, elapsed: Duration) -> LoadRun<T> {
        LoadRun {
            completed: self.completed,
            errors: self.errors,
            first_error: self.first_error,
            elapsed,
        }
    }
}
