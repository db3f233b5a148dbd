//! A focused measure of what endpoints' content filters cost fan-out, against a SQLite store in
//! a temporary directory: one application with `ENDPOINTS` endpoints, each with a filter of
//! a few clauses, then `list_fanout_targets` (the endpoint read every fan-out does) and
//! `create_message` (the message, its fan-out and its deliveries in one transaction), each
//! repeated. Prints microseconds per call; run it under
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null` for instruction counts, which
//! do not depend on what else the machine is doing. Not a test: it asserts nothing.
//!
//! `cargo run -p hookd --example fanout_filters -- [reads] [messages]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use hookd::domain::{
    AppId, ApplicationFields, ContentFilter, DeliveryOptions, EndpointFields, EndpointId,
    EndpointUrl, EventTypeName, MessageId, MessagePayload, Recipients, Secret,
};
use hookd::store::sqlite::SqliteStore;
use hookd::store::{NewEndpoint, NewMessage, Store};

const ENDPOINTS: usize = 20;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let reads: usize = args.next().map_or(2000, |n| n.parse().expect("reads"));
    let messages: usize = args.next().map_or(500, |n| n.parse().expect("messages"));

    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
    let now = chrono::Utc::now();
    let app_id = AppId::generate(now, rand::random());
    store
        .create_application(app_id.clone(), application(), now)
        .await
        .expect("application");
    for index in 0..ENDPOINTS {
        store
            .create_endpoint(
                &app_id,
                NewEndpoint {
                    id: EndpointId::generate(now, rand::random()),
                    fields: filtered_endpoint(index),
                    secret: Secret::from_bytes(&[7; 32]).expect("secret"),
                    now,
                },
            )
            .await
            .expect("endpoint");
    }

    let started = Instant::now();
    for _ in 0..reads {
        let targets = store.list_fanout_targets(&app_id).await.expect("targets");
        assert_eq!(targets.len(), ENDPOINTS);
    }
    let per_read = started.elapsed().as_secs_f64() * 1e6 / reads as f64;

    let started = Instant::now();
    for _ in 0..messages {
        let now = chrono::Utc::now();
        store
            .create_message(NewMessage {
                id: MessageId::generate(now, rand::random()),
                app_id: app_id.clone(),
                event_type: EventTypeName::parse("invoice.paid").expect("event type"),
                event_id: None,
                payload: MessagePayload::parse(
                    r#"{"amount":42,"currency":"eur","customer":{"tier":"gold"}}"#,
                )
                .expect("payload"),
                channels: Vec::new(),
                tags: Vec::new(),
                deliver_at: None,
                recipients: Recipients::Matching,
                now,
            })
            .await
            .expect("message");
    }
    let per_message = started.elapsed().as_secs_f64() * 1e6 / messages as f64;

    println!(
        "{ENDPOINTS} filtered endpoints: list_fanout_targets {per_read:.1} µs/call ({reads} calls), \
         create_message {per_message:.1} µs/message ({messages} messages)"
    );
}

fn application() -> ApplicationFields {
    ApplicationFields {
        uid: None,
        name: "bench".to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::new(),
    }
}

/// An endpoint whose filter has a few clauses of the kinds users write: a range, a set and a
/// nested path, different for each endpoint so no two filters are the same text.
fn filtered_endpoint(index: usize) -> EndpointFields {
    let filter = serde_json::json!({
        "amount": {"$gte": index, "$lt": 1000},
        "currency": {"$in": ["eur", "usd", "gbp"]},
        "customer": {"tier": {"$ne": "blocked"}},
        "$or": [{"refund": {"$exists": false}}, {"refund": false}],
    });
    EndpointFields {
        uid: None,
        url: EndpointUrl::parse("https://receiver.example/hook").expect("url"),
        description: String::new(),
        version: 1,
        disabled: false,
        event_types: None,
        channels: None,
        filter: Some(ContentFilter::parse(filter).expect("filter")),
        throttle_rate: None,
        metadata: BTreeMap::new(),
        headers: BTreeMap::new(),
        delivery: DeliveryOptions::default(),
    }
}
