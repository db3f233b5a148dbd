//! A focused measure of what an enforced payload schema costs ingest, against a SQLite store in
//! a temporary directory: the same messages sent as an event type that enforces a schema and as
//! one that does not, in the same run. Each message takes the steps `ops::accept` takes for
//! it: the event type's enforced-schema revision read (`enforced_schema_revision`, done for
//! every message), for the enforcing type the schema (compiled once, as
//! `ops::payload_validation`'s cache keeps it) judging the parsed payload, then
//! `create_message` (the message and its fan-out in one transaction). Prints microseconds per
//! message for each type and the judging alone; run it under
//! `valgrind --tool=callgrind --callgrind-out-file=/dev/null` for instruction counts. Not a
//! test: it asserts nothing about speed.
//!
//! `cargo run -p hookd --example ingest_validation -- [messages] [plain|checked]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd::domain::payload_schema::PayloadSchema;
use hookd::domain::{
    AppId, ApplicationFields, DeliveryOptions, EndpointFields, EndpointId, EndpointUrl,
    EventTypeFields, EventTypeName, MessageId, MessagePayload, Recipients, Secret,
};
use hookd::store::sqlite::SqliteStore;
use hookd::store::{NewEndpoint, NewMessage, Store};
use serde_json::json;

const PAYLOAD: &str = r#"{"id":"in_1","amount":4200,"currency":"eur","customer":{"id":"cus_1","email":"a@example.com"},"lines":[{"sku":"a","quantity":2},{"sku":"b","quantity":1}]}"#;

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut args = std::env::args().skip(1);
    let messages: usize = args.next().map_or(300, |n| n.parse().expect("messages"));
    // `plain` or `checked` sends only that type (for instruction counts of one); default both.
    let only = args.next();
    let dir = tempfile::tempdir().expect("temporary directory");
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).expect("store"));
    let now = chrono::Utc::now();
    let app_id = AppId::generate(now, rand::random());
    store
        .create_application(app_id.clone(), application(), now)
        .await
        .expect("application");
    store
        .create_endpoint(
            &app_id,
            NewEndpoint {
                id: EndpointId::generate(now, rand::random()),
                fields: endpoint(),
                secret: Secret::from_bytes(&[7; 32]).expect("secret"),
                now,
            },
        )
        .await
        .expect("endpoint");
    let plain = EventTypeName::parse("invoice.plain").expect("event type");
    let enforced = EventTypeName::parse("invoice.checked").expect("event type");
    store
        .create_event_type(plain.clone(), event_type(false), now)
        .await
        .expect("plain type");
    let checked = store
        .create_event_type(enforced.clone(), event_type(true), now)
        .await
        .expect("enforcing type");
    let schema = PayloadSchema::compile(checked.fields.schemas.as_ref()).expect("schema");

    // One warm-up message of each, so neither pays for first use.
    for name in [&plain, &enforced] {
        ingest(&store, &app_id, name, &schema).await;
    }
    let mut per_type = Vec::new();
    for name in [&plain, &enforced] {
        if only
            .as_deref()
            .is_some_and(|only| !name.as_str().ends_with(only))
        {
            continue;
        }
        let started = Instant::now();
        let mut judging = Duration::ZERO;
        for _ in 0..messages {
            judging += ingest(&store, &app_id, name, &schema).await;
        }
        per_type.push((name.as_str(), started.elapsed(), judging));
    }
    for (name, total, judging) in per_type {
        let micros = |duration: Duration| duration.as_secs_f64() * 1e6 / messages as f64;
        println!(
            "{name}: {:.1} µs/message ({:.0} messages/s), judging the payload {:.1} µs of it \
             ({messages} messages)",
            micros(total),
            messages as f64 / total.as_secs_f64(),
            micros(judging),
        );
    }
}

/// One message through the steps of `ops::accept` that differ by schema; returns the time spent
/// judging the payload.
async fn ingest(
    store: &Arc<dyn Store>,
    app_id: &AppId,
    event_type: &EventTypeName,
    schema: &PayloadSchema,
) -> Duration {
    let payload = MessagePayload::parse(PAYLOAD).expect("payload");
    let mut judging = Duration::ZERO;
    if store
        .enforced_schema_revision(event_type)
        .await
        .expect("revision")
        .is_some()
    {
        let started = Instant::now();
        let value: serde_json::Value = serde_json::from_str(payload.as_str()).expect("json");
        schema.check(&value).expect("the payload matches");
        judging = started.elapsed();
    }
    let now = chrono::Utc::now();
    store
        .create_message(NewMessage {
            id: MessageId::generate(now, rand::random()),
            app_id: app_id.clone(),
            event_type: event_type.clone(),
            event_id: None,
            payload,
            channels: Vec::new(),
            tags: Vec::new(),
            deliver_at: None,
            recipients: Recipients::Matching,
            now,
        })
        .await
        .expect("message");
    judging
}

/// An invoice schema of the size users enforce: required fields, types, formats and an array
/// of objects.
fn event_type(enforce_schema: bool) -> EventTypeFields {
    let invoice = json!({
        "type": "object",
        "required": ["id", "amount", "currency", "customer", "lines"],
        "properties": {
            "id": {"type": "string", "pattern": "^in_"},
            "amount": {"type": "integer", "minimum": 0},
            "currency": {"enum": ["eur", "usd", "gbp"]},
            "customer": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "email": {"type": "string", "format": "email"}
                }
            },
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["sku", "quantity"],
                    "properties": {
                        "sku": {"type": "string"},
                        "quantity": {"type": "integer", "minimum": 1}
                    }
                }
            }
        }
    });
    EventTypeFields {
        description: "an invoice".to_owned(),
        deprecated: false,
        archived: false,
        schemas: Some(json!({ "1": invoice })),
        feature_flag: None,
        group_name: None,
        enforce_schema,
    }
}

fn application() -> ApplicationFields {
    ApplicationFields {
        uid: None,
        name: "bench".to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::new(),
    }
}

fn endpoint() -> EndpointFields {
    EndpointFields {
        uid: None,
        url: EndpointUrl::parse("https://receiver.example/hook").expect("url"),
        description: String::new(),
        version: 1,
        disabled: false,
        event_types: None,
        channels: None,
        filter: None,
        throttle_rate: None,
        metadata: BTreeMap::new(),
        headers: BTreeMap::new(),
        delivery: DeliveryOptions::default(),
    }
}
