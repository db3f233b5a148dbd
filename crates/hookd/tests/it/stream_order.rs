//! Event streams (`hookd listen`) send an application's messages in the order they committed,
//! not in id order. Ids are made before the write commits, so two messages accepted at once can
//! commit with the later id first; a stream already past that id must still send the other.
//! The messages are written through the store directly, with ids chosen so, and the stream is
//! read through `hookd::ops::stream` as the SSE endpoint reads it. On both backends; on
//! PostgreSQL also with the earlier message's transaction still open while the later commits.

use std::sync::Arc;
use std::time::Duration;

use hookd::clock::{Clock, SystemClock};
use hookd::domain::{
    AppId, ApplicationFields, EventTypeName, MessageId, MessagePayload, Timestamp,
};
use hookd::engine::client::SystemResolver;
use hookd::ops::stream::{self, MessageStream, StreamStart};
use hookd::ops::{AppRef, Ops, Principal};
use hookd::policy::ssrf::TargetPolicy;
use hookd::store::postgres::PostgresStore;
use hookd::store::sqlite::SqliteStore;
use hookd::store::{MessageInsert, NewMessage, Store};
use tokio::sync::Notify;

use crate::postgres_schema::TestSchema;

/// How long a stream is given to send a message that is there to send; reaching it fails the
/// test (the message was skipped), it is not a measurement.
const SENT_WITHIN: Duration = Duration::from_secs(30);

#[tokio::test]
async fn a_message_committed_after_a_later_id_is_still_streamed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path()).unwrap());
    a_message_committed_after_a_later_id_is_still_streamed(store.clone()).await;
    store.close();
}

#[tokio::test]
async fn postgres_a_message_committed_after_a_later_id_is_still_streamed() {
    let schema = TestSchema::create("postgres_a_message_committed_after_a_later_id").await;
    let store = open_postgres(&schema).await;
    a_message_committed_after_a_later_id_is_still_streamed(store.clone()).await;
    store.close().await;
}

async fn a_message_committed_after_a_later_id_is_still_streamed(store: Arc<dyn Store>) {
    let ops = ops_over(Arc::clone(&store));
    let now = SystemClock.now();
    let app_id = new_app(&store, now).await;
    let first = commit(&ops, new_message(&app_id, MessageId::generate(now, 0), now)).await;
    let earlier = MessageId::generate(now, rand::random());
    let later = MessageId::generate(now, rand::random());
    assert!(earlier < later);

    // The later id commits first, as when two requests race; a stream reading after `first`
    // sends it and waits.
    commit(&ops, new_message(&app_id, later.clone(), now)).await;
    let mut live = open_after(&ops, &app_id, &first).await;
    assert_eq!(next_id(&mut live).await, later);
    // Then the earlier id commits: the stream, already past `later`, still sends it.
    commit(&ops, new_message(&app_id, earlier.clone(), now)).await;
    assert_eq!(next_id(&mut live).await, earlier);

    // A client resuming after `later` (its Last-Event-ID) gets `earlier`; one resuming after
    // `first` gets both, in the order they committed.
    let mut resumed = open_after(&ops, &app_id, &later).await;
    assert_eq!(next_id(&mut resumed).await, earlier);
    let mut replayed = open_after(&ops, &app_id, &first).await;
    assert_eq!(next_id(&mut replayed).await, later);
    assert_eq!(next_id(&mut replayed).await, earlier);
}

/// On PostgreSQL a row's position is its transaction's id, and transactions do not commit in
/// id order: a row is read only once every older transaction has ended.
#[tokio::test]
async fn postgres_stream_holds_back_rows_behind_a_transaction_in_progress() {
    let schema = TestSchema::create("postgres_stream_holds_back_rows").await;
    let store = open_postgres(&schema).await;
    let dyn_store: Arc<dyn Store> = store.clone();
    let now = SystemClock.now();
    let app_id = new_app(&dyn_store, now).await;
    let first = create(
        &dyn_store,
        new_message(&app_id, MessageId::generate(now, 0), now),
    )
    .await;
    let earlier = MessageId::generate(now, rand::random());
    let later = MessageId::generate(now, rand::random());

    // `earlier` is written by a transaction that stays open (it has its transaction id now)...
    let open_writer = schema.connect().await;
    open_writer.batch_execute("BEGIN").await.unwrap();
    open_writer
        .execute(
            "INSERT INTO message (id, app_id, event_type, payload, channels, tags, created_at)
             VALUES ($1, $2, 'invoice.paid', '{}', '{}', '{}', 0)",
            &[&earlier.as_str(), &app_id.as_str()],
        )
        .await
        .unwrap();
    // ... while `later` commits through the store.
    create(&dyn_store, new_message(&app_id, later.clone(), now)).await;

    let after_first = dyn_store
        .stream_position(&app_id, &first)
        .await
        .unwrap()
        .expect("first has a position");
    let read = dyn_store
        .read_stream(&app_id, &after_first, 16)
        .await
        .unwrap();
    assert!(
        read.messages.is_empty(),
        "`later` waits for the open writer"
    );
    assert!(read.held_back, "and the stream is told to look again soon");

    open_writer.batch_execute("COMMIT").await.unwrap();
    // Other sessions on the same server may hold the horizon a moment longer.
    let deadline = tokio::time::Instant::now() + SENT_WITHIN;
    let read = loop {
        let read = dyn_store
            .read_stream(&app_id, &after_first, 16)
            .await
            .unwrap();
        if !read.messages.is_empty() || tokio::time::Instant::now() > deadline {
            break read;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let sent: Vec<MessageId> = read
        .messages
        .into_iter()
        .map(|(_, message)| message.id)
        .collect();
    assert_eq!(
        sent,
        vec![earlier, later],
        "in the order they began writing"
    );
    store.close().await;
}

async fn open_postgres(schema: &TestSchema) -> Arc<PostgresStore> {
    Arc::new(
        PostgresStore::open(&schema.url, "stream-order")
            .await
            .expect("opening PostgreSQL"),
    )
}

fn ops_over(store: Arc<dyn Store>) -> Ops {
    Ops {
        store,
        clock: Arc::new(SystemClock),
        target_policy: TargetPolicy {
            allow_private: true,
            https_only: false,
        },
        resolver: Arc::new(SystemResolver),
        wake_background: Arc::new(Notify::new()),
        payload_retention: Duration::from_secs(3600),
        message_feed: Default::default(),
        instruments: Default::default(),
        readiness: hookd::ops::readiness::ReadinessProbe {
            engine_heartbeat: Default::default(),
            engine_stall_after: Duration::from_secs(30),
        },
        rejected_log: Default::default(),
        compiled_schemas: Default::default(),
    }
}

async fn new_app(store: &Arc<dyn Store>, now: Timestamp) -> AppId {
    let id = AppId::generate(now, rand::random());
    let fields = ApplicationFields {
        uid: None,
        name: "streamed".to_owned(),
        throttle_rate: None,
        metadata: Default::default(),
    };
    store
        .create_application(id.clone(), fields, now)
        .await
        .unwrap();
    id
}

fn new_message(app_id: &AppId, id: MessageId, now: Timestamp) -> NewMessage {
    NewMessage {
        id,
        app_id: app_id.clone(),
        event_type: EventTypeName::parse("invoice.paid").unwrap(),
        event_id: None,
        payload: MessagePayload::parse(r#"{"amount":42}"#).unwrap(),
        channels: Vec::new(),
        tags: Vec::new(),
        deliver_at: None,
        recipients: hookd::domain::Recipients::Matching,
        now,
    }
}

async fn create(store: &Arc<dyn Store>, message: NewMessage) -> MessageId {
    match store.create_message(message).await.unwrap() {
        MessageInsert::Created { message, .. } => message.id,
        MessageInsert::Duplicate(message) => panic!("unexpected duplicate {}", message.id),
    }
}

/// Commits the message and announces it, as `ops::messages` does after its write.
async fn commit(ops: &Ops, message: NewMessage) -> MessageId {
    let app_id = message.app_id.clone();
    let id = create(&ops.store, message).await;
    ops.message_feed.announce(&app_id);
    id
}

async fn open_after(ops: &Ops, app_id: &AppId, after: &MessageId) -> MessageStream {
    stream::open(
        ops,
        &Principal::Admin,
        AppRef::Named(app_id.as_str()),
        StreamStart::After(after.as_str()),
    )
    .await
    .unwrap()
}

async fn next_id(stream: &mut MessageStream) -> MessageId {
    tokio::time::timeout(SENT_WITHIN, stream.next())
        .await
        .expect("the stream sends the message that is there to send")
        .unwrap()
        .expect("the stream stays open")
        .id
}
