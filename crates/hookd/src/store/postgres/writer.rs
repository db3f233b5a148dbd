//! The message write batcher: many concurrent `create_message` calls share one transaction and
//! one commit, as the SQLite writer thread does for every write.
//!
//! A few writer tasks take turns draining a shared queue. Each takes every message waiting (up
//! to a limit), writes them all in one transaction with their fan-out, sends one `NOTIFY` for the
//! batch, commits, and only then answers the callers: accepted still means durable, but a commit
//! (one WAL flush) is shared by the whole batch. If the batch fails, each message is retried in a
//! transaction of its own, so one bad message cannot fail its neighbours. Each committed
//! batch's duration and size go to the commit instruments.

use std::collections::HashMap;
use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;

use super::deliveries::{DueMarks, notify_deliveries};
use super::messages::fanout_targets;
use super::messages::insert_message;
use super::{backend, pooled};
use crate::domain::{AppId, FanoutTarget};
use crate::store::{MessageInsert, NewMessage, StoreError};
use crate::telemetry::ErrorChain;
use crate::telemetry::instruments::CommitInstruments;

/// Writer tasks committing in parallel; each holds one pooled connection while it commits.
const WRITERS: usize = 4;
/// The most messages one commit takes; more wait for the next commit.
const MAX_MESSAGES_PER_COMMIT: usize = 512;
/// Messages waiting for a writer before callers wait to enqueue.
const QUEUE_CAPACITY: usize = 8192;

type Answer = oneshot::Sender<Result<MessageInsert, StoreError>>;

pub struct MessageWriter {
    queue: std::sync::Mutex<Option<mpsc::Sender<(NewMessage, Answer)>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

impl MessageWriter {
    pub fn start(pool: Pool, commits: CommitInstruments) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = (0..WRITERS)
            .map(|_| {
                tokio::spawn(run_writer(
                    pool.clone(),
                    Arc::clone(&receiver),
                    commits.clone(),
                ))
            })
            .collect();
        MessageWriter {
            queue: std::sync::Mutex::new(Some(sender)),
            writers: Mutex::new(writers),
        }
    }

    /// Queues the message and answers once the commit that contains it is durable.
    pub async fn write(&self, message: NewMessage) -> Result<MessageInsert, StoreError> {
        let sender = self
            .queue
            .lock()
            .expect("message queue lock")
            .clone()
            .ok_or(StoreError::Unavailable)?;
        let (answer, answered) = oneshot::channel();
        sender
            .send((message, answer))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answered.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Stops taking messages, lets the writers commit what is queued, and waits for them.
    pub async fn close(&self) {
        self.queue.lock().expect("message queue lock").take();
        let writers = std::mem::take(&mut *self.writers.lock().await);
        for writer in writers {
            let _ = writer.await;
        }
    }
}

async fn run_writer(
    pool: Pool,
    queue: Arc<Mutex<mpsc::Receiver<(NewMessage, Answer)>>>,
    commits: CommitInstruments,
) {
    let mut batch = Vec::with_capacity(MAX_MESSAGES_PER_COMMIT);
    loop {
        // Only one writer waits on the queue at a time; it takes all that is there and lets the
        // next writer wait while it commits.
        let received = queue
            .lock()
            .await
            .recv_many(&mut batch, MAX_MESSAGES_PER_COMMIT)
            .await;
        if received == 0 {
            return;
        }
        let (messages, answers): (Vec<NewMessage>, Vec<Answer>) = batch.drain(..).unzip();
        let began = std::time::Instant::now();
        match write_batch(&pool, &messages).await {
            Ok(results) => {
                commits.duration.record(began.elapsed().as_secs_f64());
                commits.batch_size.record(messages.len() as f64);
                for (answer, result) in answers.into_iter().zip(results) {
                    let _ = answer.send(Ok(result));
                }
            }
            Err(error) if messages.len() == 1 => {
                if let Some(answer) = answers.into_iter().next() {
                    let _ = answer.send(Err(error));
                }
            }
            Err(error) => {
                tracing::warn!(
                    error = %ErrorChain(&error),
                    count = messages.len(),
                    "a message batch failed; writing its messages one by one"
                );
                for (message, answer) in messages.into_iter().zip(answers) {
                    let result = write_batch(&pool, std::slice::from_ref(&message))
                        .await
                        .map(|mut results| results.remove(0));
                    let _ = answer.send(result);
                }
            }
        }
    }
}

/// Writes the messages and their fan-out in one transaction and commits it.
async fn write_batch(
    pool: &Pool,
    messages: &[NewMessage],
) -> Result<Vec<MessageInsert>, StoreError> {
    let mut client = pooled(pool).await?;
    let transaction = client.transaction().await.map_err(backend)?;
    // The fan-out reads endpoints inside the transaction; one read per application per batch.
    let mut endpoints_by_app: HashMap<AppId, Vec<FanoutTarget>> = HashMap::new();
    let mut results = Vec::with_capacity(messages.len());
    let mut due_marks = DueMarks::default();
    for message in messages {
        if !endpoints_by_app.contains_key(&message.app_id) {
            let endpoints = fanout_targets(&transaction, &message.app_id).await?;
            endpoints_by_app.insert(message.app_id.clone(), endpoints);
        }
        let endpoints = &endpoints_by_app[&message.app_id];
        let result =
            insert_message(&transaction, message.clone(), endpoints, &mut due_marks).await?;
        results.push(result);
    }
    if !due_marks.is_empty() {
        due_marks.apply(&transaction).await?;
        notify_deliveries(&transaction).await?;
    }
    transaction.commit().await.map_err(backend)?;
    Ok(results)
}
