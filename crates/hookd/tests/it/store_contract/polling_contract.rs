//! `PollingStore`, and fan-out around polling endpoints: a polling endpoint (`polling:`) gets
//! no delivery, a consumer's committed position only moves forward unless it rewinds (a seek),
//! goes with its endpoint, and a position at a time stands before the first message created
//! after it, in commit order.

use super::*;
use hookd::store::{ConsumerSave, StreamPosition};

contract!(
    a_polling_endpoint_gets_no_delivery,
    a_consumer_position_moves_forward_unless_rewound_and_goes_with_its_endpoint,
    a_position_at_a_time_stands_before_the_messages_created_after_it,
);

fn polling_fields() -> EndpointFields {
    EndpointFields {
        url: EndpointUrl::parse(EndpointUrl::POLLING).unwrap(),
        ..endpoint_fields(None)
    }
}

fn at(commit: i64, message_id: &str) -> StreamPosition {
    StreamPosition {
        commit,
        message_id: message_id.to_owned(),
    }
}

async fn a_polling_endpoint_gets_no_delivery(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let polling = new_endpoint(&store, &app_id, polling_fields(), now).await;
    new_endpoint(&store, &app_id, endpoint_fields(None), now).await;
    let (_, deliveries) = create(&store, new_message(&app_id, "invoice.paid", now)).await;
    assert_eq!(deliveries, 1, "only the push endpoint gets a delivery");
    let targets = store.list_fanout_targets(&app_id).await.unwrap();
    let target = targets.iter().find(|target| target.id == polling).unwrap();
    assert!(target.polling, "{target:?}");
    assert!(targets.iter().filter(|target| target.polling).count() == 1);
    // Read back as it was written.
    let endpoint = store
        .get_endpoint(&app_id, polling.as_str())
        .await
        .unwrap()
        .unwrap();
    assert!(endpoint.fields.url.is_polling());
}

async fn a_consumer_position_moves_forward_unless_rewound_and_goes_with_its_endpoint(
    store: Arc<dyn Store>,
) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let endpoint = new_endpoint(&store, &app_id, polling_fields(), now).await;
    let other = new_endpoint(&store, &app_id, polling_fields(), now).await;
    assert_eq!(
        store
            .poller_consumer_position(&endpoint, "c")
            .await
            .unwrap(),
        None
    );
    let save = |position: StreamPosition, rewind: bool| {
        let (store, endpoint) = (store.clone(), endpoint.clone());
        async move {
            store
                .save_poller_consumer_position(&endpoint, "c", &position, rewind, now)
                .await
                .unwrap()
        }
    };
    assert_eq!(save(at(5, "msg_b"), false).await, ConsumerSave::Saved);
    assert_eq!(
        save(at(5, "msg_b"), false).await,
        ConsumerSave::Saved,
        "same again"
    );
    assert_eq!(save(at(7, ""), false).await, ConsumerSave::Saved);
    assert_eq!(
        save(at(5, "msg_c"), false).await,
        ConsumerSave::Behind(at(7, "")),
        "an earlier position is refused"
    );
    assert_eq!(
        store
            .poller_consumer_position(&endpoint, "c")
            .await
            .unwrap(),
        Some(at(7, ""))
    );
    assert_eq!(
        save(at(1, ""), true).await,
        ConsumerSave::Saved,
        "a seek rewinds"
    );
    assert_eq!(
        store
            .poller_consumer_position(&endpoint, "c")
            .await
            .unwrap(),
        Some(at(1, ""))
    );
    // Consumers are per endpoint and per name.
    assert_eq!(
        store.poller_consumer_position(&other, "c").await.unwrap(),
        None
    );
    assert_eq!(
        store
            .poller_consumer_position(&endpoint, "d")
            .await
            .unwrap(),
        None
    );

    store
        .delete_endpoint(&app_id, &endpoint, now)
        .await
        .unwrap();
    assert_eq!(
        store
            .poller_consumer_position(&endpoint, "c")
            .await
            .unwrap(),
        None,
        "the consumer went with its endpoint"
    );
    let gone = store
        .save_poller_consumer_position(&endpoint, "c", &at(9, ""), false, now)
        .await;
    assert!(matches!(gone, Err(StoreError::NotFound(_))), "{gone:?}");
}

async fn a_position_at_a_time_stands_before_the_messages_created_after_it(store: Arc<dyn Store>) {
    let now = t0();
    let app_id = new_app(&store, now).await;
    let second = |n: i64| now + chrono::Duration::seconds(n);
    let mut sent = Vec::new();
    for n in 1..=3 {
        sent.push(
            create(&store, new_message(&app_id, "a.b", second(n)))
                .await
                .0,
        );
    }
    let ids_after = |position: StreamPosition| {
        let (store, app_id) = (store.clone(), app_id.clone());
        async move {
            // On PostgreSQL a transaction of another test, on any schema, holds the horizon
            // back for a moment; the store says so, and the reader reads again (a wait, not an
            // assertion on timing).
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            let mut read = store.read_stream(&app_id, &position, 10).await.unwrap();
            while read.held_back && std::time::Instant::now() < deadline {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                read = store.read_stream(&app_id, &position, 10).await.unwrap();
            }
            read.messages
                .into_iter()
                .map(|(_, message)| message.id)
                .collect::<Vec<_>>()
        }
    };
    // Positions are never past the horizon, so first let it pass the messages just written.
    ids_after(at(0, "")).await;
    let position = store.stream_position_at(&app_id, second(1)).await.unwrap();
    assert_eq!(ids_after(position).await, sent[1..]);
    let position = store.stream_position_at(&app_id, second(0)).await.unwrap();
    assert_eq!(ids_after(position).await, sent);
    let position = store.stream_position_at(&app_id, second(3)).await.unwrap();
    assert_eq!(ids_after(position.clone()).await, Vec::<MessageId>::new());
    // Past every message: a message committed afterwards comes after the position.
    let later = create(&store, new_message(&app_id, "a.b", second(2)))
        .await
        .0;
    assert_eq!(ids_after(position).await, vec![later]);
}
