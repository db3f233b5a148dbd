//! The write batcher: many concurrent `create_message` and `receive_inbound_request` calls
//! share one transaction and one commit, as the SQLite writer thread does for every write.
//!
//! A few writer tasks take turns draining a shared queue. Each takes every write waiting (up
//! to a limit): API messages with their fan-out, and inbound receipts (request record, dedupe
//! key, forwarded messages). It writes them all in one transaction (the API messages first,
//! together, in a few statements whatever their number: `message_batch`), applies the batch's due
//! marks in one pass (the lock order), sends one `NOTIFY`, commits, and only then answers the
//! callers: accepted still means durable, but a commit (one WAL flush) is shared by the whole
//! batch. Two receipts of one dedupe key in one batch are told apart by the key's row, which
//! the first inserts and the second then finds, as across batches. If the batch fails, each
//! write is retried in a transaction of its own, so one bad write cannot fail its neighbours.
//! Each batch committed whole has its duration and size recorded in the commit instruments
//! (the one-by-one fallback's commits are not). Each batch runs in a root span `store.commit`
//! that `follows_from` the span of every write's caller, as on SQLite.

use std::sync::Arc;

use deadpool_postgres::Pool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{Instrument, Span};

use super::deliveries::{DueMarks, notify_deliveries};
use super::inbound::receive;
use super::message_batch::insert_messages;
use super::{backend, pooled};
use crate::store::inbound::{ReceiptOutcome, ReceivedRequest};
use crate::store::parsed_filters::ParsedFilters;
use crate::store::{MessageInsert, NewMessage, StoreError};
use crate::telemetry::ErrorChain;
use crate::telemetry::instruments::CommitInstruments;

/// Writer tasks committing in parallel; each holds one pooled connection while it commits.
const WRITERS: usize = 4;
/// The most writes one commit takes; more wait for the next commit.
const MAX_MESSAGES_PER_COMMIT: usize = 512;
/// Writes waiting for a writer before callers wait to enqueue.
const QUEUE_CAPACITY: usize = 8192;

/// One write the batcher commits.
#[derive(Debug, Clone)]
enum Write {
    Message(NewMessage),
    Receipt(ReceivedRequest),
}

/// What one write did: a message insert, or a receipt's outcome and the deliveries it added.
#[derive(Debug)]
enum Written {
    Message(MessageInsert),
    Receipt(ReceiptOutcome, usize),
}

type Answer = oneshot::Sender<Result<Written, StoreError>>;

/// A queued write: what to write, who waits for it, and the span it was queued from.
type Queued = (Write, Answer, Span);

pub struct MessageWriter {
    queue: std::sync::Mutex<Option<mpsc::Sender<Queued>>>,
    writers: Mutex<Vec<JoinHandle<()>>>,
}

impl MessageWriter {
    pub fn start(pool: Pool, commits: CommitInstruments, filters: Arc<ParsedFilters>) -> Self {
        let (sender, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let receiver = Arc::new(Mutex::new(receiver));
        let writers = (0..WRITERS)
            .map(|_| {
                tokio::spawn(run_writer(
                    pool.clone(),
                    Arc::clone(&receiver),
                    commits.clone(),
                    Arc::clone(&filters),
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
        match self.submit(Write::Message(message)).await? {
            Written::Message(inserted) => Ok(inserted),
            Written::Receipt(..) => unreachable!("a message write answers with a message"),
        }
    }

    /// Queues the receipt of an inbound request and answers once the commit that contains it
    /// is durable, with its outcome and the deliveries it added.
    pub async fn receive(
        &self,
        request: ReceivedRequest,
    ) -> Result<(ReceiptOutcome, usize), StoreError> {
        match self.submit(Write::Receipt(request)).await? {
            Written::Receipt(outcome, deliveries) => Ok((outcome, deliveries)),
            Written::Message(_) => unreachable!("a receipt answers with a receipt"),
        }
    }

    async fn submit(&self, write: Write) -> Result<Written, StoreError> {
        let sender = self
            .queue
            .lock()
            .expect("write queue lock")
            .clone()
            .ok_or(StoreError::Unavailable)?;
        let (answer, answered) = oneshot::channel();
        sender
            .send((write, answer, Span::current()))
            .await
            .map_err(|_| StoreError::Unavailable)?;
        answered.await.map_err(|_| StoreError::Unavailable)?
    }

    /// Stops taking messages, lets the writers commit what is queued, and waits for them.
    pub async fn close(&self) {
        self.queue.lock().expect("write queue lock").take();
        let writers = std::mem::take(&mut *self.writers.lock().await);
        for writer in writers {
            let _ = writer.await;
        }
    }
}

async fn run_writer(
    pool: Pool,
    queue: Arc<Mutex<mpsc::Receiver<Queued>>>,
    commits: CommitInstruments,
    filters: Arc<ParsedFilters>,
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
        let span = tracing::info_span!(
            parent: None,
            "store.commit",
            backend = "postgres",
            jobs = batch.len(),
            committed = tracing::field::Empty
        );
        let mut writes = Vec::with_capacity(batch.len());
        let mut answers = Vec::with_capacity(batch.len());
        for (write, answer, caller) in batch.drain(..) {
            span.follows_from(&caller);
            writes.push(write);
            answers.push(answer);
        }
        commit_batch(&pool, &filters, writes, answers, &commits)
            .instrument(span)
            .await;
    }
}

/// Commits one batch and answers its writers; if the batch fails, writes each write alone.
async fn commit_batch(
    pool: &Pool,
    filters: &ParsedFilters,
    writes: Vec<Write>,
    answers: Vec<Answer>,
    commits: &CommitInstruments,
) {
    let began = std::time::Instant::now();
    let outcome = write_batch(pool, filters, &writes).await;
    Span::current().record("committed", outcome.is_ok());
    match outcome {
        Ok(results) => {
            commits.duration.record(began.elapsed().as_secs_f64());
            commits.batch_size.record(writes.len() as f64);
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(Ok(result));
            }
        }
        Err(error) if writes.len() == 1 => {
            if let Some(answer) = answers.into_iter().next() {
                let _ = answer.send(Err(error));
            }
        }
        Err(error) => {
            tracing::warn!(
                error = %ErrorChain(&error),
                count = writes.len(),
                "a write batch failed; writing its writes one by one"
            );
            for (write, answer) in writes.into_iter().zip(answers) {
                let result = write_batch(pool, filters, std::slice::from_ref(&write))
                    .await
                    .map(|mut results| results.remove(0));
                let _ = answer.send(result);
            }
        }
    }
}

/// Writes the messages (with their fan-out) and receipts in one transaction and commits it.
async fn write_batch(
    pool: &Pool,
    filters: &ParsedFilters,
    writes: &[Write],
) -> Result<Vec<Written>, StoreError> {
    let mut client = pooled(pool).await?;
    let transaction = client.transaction().await.map_err(backend)?;
    let mut due_marks = DueMarks::default();
    // The API messages go first, all in one batch insert (a fixed number of statements
    // whatever their number); then each receipt, in the order they came.
    let messages: Vec<NewMessage> = writes
        .iter()
        .filter_map(|write| match write {
            Write::Message(message) => Some(message.clone()),
            Write::Receipt(_) => None,
        })
        .collect();
    let mut inserted = insert_messages(&transaction, filters, messages, &mut due_marks)
        .await?
        .into_iter();
    let mut results = Vec::with_capacity(writes.len());
    for write in writes {
        let result = match write {
            Write::Message(_) => Written::Message(
                inserted
                    .next()
                    .expect("one outcome per message of the batch"),
            ),
            Write::Receipt(request) => {
                let (outcome, deliveries) =
                    receive(&transaction, filters, request.clone(), &mut due_marks).await?;
                Written::Receipt(outcome, deliveries)
            }
        };
        results.push(result);
    }
    if !due_marks.is_empty() {
        due_marks.apply(&transaction).await?;
        notify_deliveries(&transaction).await?;
    }
    transaction.commit().await.map_err(backend)?;
    Ok(results)
}
