//! Payload validation (`enforceSchema`): a message whose event type enforces its newest schema
//! is refused with a 422 naming each violation's JSON pointer and rule, and nothing is stored;
//! a type that does not enforce ignores its schema (as Svix does); a schema change takes
//! effect on the next message, on every node; a schema that cannot be enforced (invalid,
//! remote `$ref`, hostile pattern) is refused when enforcement is configured.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp, TestClient};
use crate::postgres_schema::TestSchema;

fn order_schemas() -> Value {
    json!({
        "1": {"type": "object"},
        "2": {
            "type": "object",
            "required": ["id", "items"],
            "properties": {
                "id": {"type": "string", "pattern": "^ord_[0-9]+$"},
                "items": {"type": "array", "minItems": 1, "items": {
                    "type": "object",
                    "required": ["price"],
                    "properties": {"price": {"type": "number", "minimum": 1}},
                    "additionalProperties": false
                }}
            }
        }
    })
}

async fn create_event_type(app: &TestClient, name: &str, schemas: Value, enforce: bool) -> Value {
    let (status, created) = app
        .post(
            "/event-type",
            json!({"name": name, "description": "d", "schemas": schemas, "enforceSchema": enforce}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["enforceSchema"], enforce, "{created}");
    created
}

async fn new_app(app: &TestClient) -> String {
    let (status, created) = app.post("/app", json!({"name": "shop"})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestClient, app_id: &str, event_type: &str, payload: Value) -> (u16, Value) {
    app.post(
        &format!("/app/{app_id}/msg"),
        json!({"eventType": event_type, "payload": payload}),
    )
    .await
}

async fn message_count(app: &TestClient, app_id: &str) -> usize {
    let (status, page) = app.get(&format!("/app/{app_id}/msg?limit=250")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().len()
}

/// The (pointer, rule) of every schema violation in a 422 body, sorted.
fn violations(body: &Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = body["detail"]
        .as_array()
        .unwrap_or_else(|| panic!("no detail in {body}"))
        .iter()
        .filter(|entry| entry.get("pointer").is_some())
        .map(|entry| {
            assert_eq!(entry["type"], "value_error.jsonschema", "{entry}");
            assert_eq!(entry["schemaVersion"], "2", "{entry}");
            // `loc` is the pointer below the body's `payload`.
            let pointer = entry["pointer"].as_str().unwrap();
            let mut loc = vec!["body".to_owned(), "payload".to_owned()];
            loc.extend(pointer.split('/').skip(1).map(str::to_owned));
            assert_eq!(entry["loc"], json!(loc), "{entry}");
            assert!(!entry["msg"].as_str().unwrap().is_empty(), "{entry}");
            (
                pointer.to_owned(),
                entry["rule"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    found.sort();
    found
}

#[tokio::test]
async fn payloads_are_judged_by_the_newest_enforced_schema() {
    let app = TestApp::spawn().await;
    create_event_type(&app, "order.placed", order_schemas(), true).await;
    let app_id = new_app(&app).await;
    let item = |price: Value| json!({"price": price});
    // (payload, the violations expected; none means accepted)
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!({"id": "ord_1", "items": [item(json!(5))]}), vec![]),
        (
            json!({"id": "ord_2", "items": [item(json!(1.5)), item(json!(9))]}),
            vec![],
        ),
        (
            json!({"id": "ord_3", "items": [item(json!(5)), item(json!(0))]}),
            vec![("/items/1/price", "minimum")],
        ),
        (json!({"id": "ord_4"}), vec![("/items", "required")]),
        (
            json!({"items": [item(json!(2))]}),
            vec![("/id", "required")],
        ),
        (
            json!({"id": "ord_5", "items": [{}]}),
            vec![("/items/0/price", "required")],
        ),
        (
            json!({"id": 7, "items": [item(json!("5"))]}),
            vec![("/id", "type"), ("/items/0/price", "type")],
        ),
        (
            json!({"id": "order-6", "items": [item(json!(2))]}),
            vec![("/id", "pattern")],
        ),
        (
            json!({"id": "ord_7", "items": []}),
            vec![("/items", "minItems")],
        ),
        (
            json!({"id": "ord_8", "items": [{"price": 2, "coupon": "x"}]}),
            vec![("/items/0", "additionalProperties")],
        ),
    ];
    let mut accepted = 0;
    for (payload, expected) in &cases {
        let (status, body) = send(&app, &app_id, "order.placed", payload.clone()).await;
        if expected.is_empty() {
            assert_eq!(status, 202, "{payload}: {body}");
            accepted += 1;
            continue;
        }
        assert_eq!(status, 422, "{payload}: {body}");
        let mut expected: Vec<(String, String)> = expected
            .iter()
            .map(|(pointer, rule)| ((*pointer).to_owned(), (*rule).to_owned()))
            .collect();
        expected.sort();
        assert_eq!(violations(&body), expected, "{payload}: {body}");
    }
    // Nothing refused was stored.
    assert_eq!(message_count(&app, &app_id).await, accepted);

    // A payload with many violations lists the first ten and says there were more.
    let many: Vec<Value> = (0..30).map(|_| json!({"price": 0})).collect();
    let (status, body) = send(
        &app,
        &app_id,
        "order.placed",
        json!({"id": "ord_9", "items": many}),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let detail = body["detail"].as_array().unwrap();
    assert_eq!(detail.len(), 11, "{body}");
    assert_eq!(detail[10]["loc"], json!(["body", "payload"]), "{body}");
}

#[tokio::test]
async fn a_type_that_does_not_enforce_ignores_its_schema() {
    let app = TestApp::spawn().await;
    create_event_type(&app, "order.placed", order_schemas(), false).await;
    let app_id = new_app(&app).await;
    let (status, body) = send(&app, &app_id, "order.placed", json!({"anything": true})).await;
    assert_eq!(status, 202, "{body}");
    // Nor does a type that does not exist, or an archived one.
    let (status, body) = send(&app, &app_id, "no.such.type", json!({"x": 1})).await;
    assert_eq!(status, 202, "{body}");
    create_event_type(&app, "order.archived", order_schemas(), true).await;
    let (status, _) = app
        .request(Method::DELETE, "/event-type/order.archived", None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = send(&app, &app_id, "order.archived", json!({"x": 1})).await;
    assert_eq!(status, 202, "{body}");
}

/// Changes the schema and the flag through `writer` and checks each change on the next
/// message sent through `sender` (the same node, or another one sharing the database).
async fn schema_changes_take_effect_at_once(writer: &TestClient, sender: &TestClient) {
    create_event_type(
        writer,
        "user.signed_up",
        json!({"1": {"type": "object"}}),
        true,
    )
    .await;
    let app_id = new_app(writer).await;
    let payload = json!({"email": "a@example.com"});
    let (status, body) = send(sender, &app_id, "user.signed_up", payload.clone()).await;
    assert_eq!(status, 202, "{body}");

    // A stricter new version: the same payload is refused at once.
    let stricter = json!({"1": {"type": "object"}, "2": {"type": "object", "required": ["name"]}});
    let (status, body) = writer
        .request(
            Method::PATCH,
            "/event-type/user.signed_up",
            Some(json!({"schemas": stricter})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = send(sender, &app_id, "user.signed_up", payload.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["pointer"], "/name", "{body}");
    assert_eq!(body["detail"][0]["rule"], "required", "{body}");

    // A PUT without the flag (what the SDKs send) keeps enforcement; its schema replaces.
    let (status, body) = writer
        .request(
            Method::PUT,
            "/event-type/user.signed_up",
            Some(json!({"description": "d", "schemas": {"1": {"required": ["email", "age"]}}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enforceSchema"], true, "{body}");
    let (status, body) = send(sender, &app_id, "user.signed_up", payload.clone()).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["pointer"], "/age", "{body}");

    // Turning enforcement off lets it through again.
    let (status, body) = writer
        .request(
            Method::PATCH,
            "/event-type/user.signed_up",
            Some(json!({"enforceSchema": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["enforceSchema"], false, "{body}");
    let (status, body) = send(sender, &app_id, "user.signed_up", payload.clone()).await;
    assert_eq!(status, 202, "{body}");

    // Deleted for good and created again with another schema: the new one is enforced.
    let (status, _) = writer
        .request(
            Method::DELETE,
            "/event-type/user.signed_up?expunge=true",
            None,
        )
        .await;
    assert_eq!(status, 204);
    create_event_type(
        writer,
        "user.signed_up",
        json!({"1": {"properties": {"email": {"type": "integer"}}}}),
        true,
    )
    .await;
    let (status, body) = send(sender, &app_id, "user.signed_up", payload).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["pointer"], "/email", "{body}");
}

#[tokio::test]
async fn a_schema_change_takes_effect_on_the_next_message() {
    let app = TestApp::spawn().await;
    schema_changes_take_effect_at_once(&app, &app).await;
}

#[tokio::test]
async fn postgres_a_schema_change_on_one_node_takes_effect_on_the_other() {
    let schema = TestSchema::create("postgres_payload_validation_nodes").await;
    let node = |id: &'static str| {
        let url = schema.url.clone();
        TestApp::spawn_with(move |config| {
            config.database_url = Some(url);
            config.node_id = Some(id.to_owned());
        })
    };
    let first = node("validation-a").await;
    let second = node("validation-b").await;
    // Each node has compiled the first schema before the change (the sender warms its cache).
    schema_changes_take_effect_at_once(&first, &second).await;
    // And the other way round, on the same database.
    let (status, _) = second
        .request(
            Method::DELETE,
            "/event-type/user.signed_up?expunge=true",
            None,
        )
        .await;
    assert_eq!(status, 204);
    schema_changes_take_effect_at_once(&second, &first).await;
}

#[tokio::test]
async fn a_schema_that_cannot_be_enforced_is_refused_when_enforcement_is_configured() {
    let app = TestApp::spawn().await;
    let remote = Receiver::start(vec![]).await;
    let mut deep = json!({"type": "object"});
    for _ in 0..40 {
        deep = json!({"properties": {"a": deep}});
    }
    // (schemas, the field the 422 names)
    let cases = [
        (json!({"1": {"type": "no-such-type"}}), vec!["schemas", "1"]),
        (
            json!({"1": {"type": "object"}, "2": {"minimum": "one"}}),
            vec!["schemas", "2"],
        ),
        (
            json!({"1": {"$ref": format!("{}/schema.json", remote.url)}}),
            vec!["schemas", "1"],
        ),
        (
            json!({"1": {"$schema": format!("{}/meta.json", remote.url)}}),
            vec!["schemas", "1"],
        ),
        (
            json!({"1": {"$ref": "file:///etc/passwd"}}),
            vec!["schemas", "1"],
        ),
        // Look-around needs a backtracking engine; enforced patterns run in linear time.
        (
            json!({"1": {"pattern": "^(?!admin).*$"}}),
            vec!["schemas", "1"],
        ),
        (
            json!({"1": {"pattern": "(a{1000}){1000}"}}),
            vec!["schemas", "1"],
        ),
        (json!({"1": deep}), vec!["schemas", "1"]),
        (json!({"v1": {"type": "object"}}), vec!["schemas", "v1"]),
        (json!({}), vec!["enforceSchema"]),
    ];
    for (index, (schemas, field)) in cases.iter().enumerate() {
        let name = format!("bad.schema{index}");
        let (status, body) = app
            .post(
                "/event-type",
                json!({"name": name, "schemas": schemas, "enforceSchema": true}),
            )
            .await;
        assert_eq!(status, 422, "{schemas}: {body}");
        let mut loc = vec!["body"];
        loc.extend(field.iter());
        assert_eq!(body["detail"][0]["loc"], json!(loc), "{schemas}: {body}");
        let (status, _) = app.get(&format!("/event-type/{name}")).await;
        assert_eq!(status, 404, "{schemas}: nothing is created");

        // Stored without enforcement (as Svix stores any schema), then enforcement turned on.
        let (status, body) = app
            .post("/event-type", json!({"name": name, "schemas": schemas}))
            .await;
        assert_eq!(status, 201, "{schemas}: {body}");
        let path = format!("/event-type/{name}");
        let (status, body) = app
            .request(Method::PATCH, &path, Some(json!({"enforceSchema": true})))
            .await;
        assert_eq!(status, 422, "{schemas}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(loc), "{schemas}: {body}");
        let (status, body) = app
            .request(
                Method::PUT,
                &path,
                Some(json!({"description": "d", "schemas": schemas, "enforceSchema": true})),
            )
            .await;
        assert_eq!(status, 422, "{schemas}: {body}");
        let (_, current) = app.get(&path).await;
        assert_eq!(current["enforceSchema"], false, "{schemas}: unchanged");
    }
    // No schema fetched anything.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(remote.received().len(), 0);
}

#[tokio::test]
async fn a_refused_payload_writes_nothing_and_consumes_no_idempotency_key() {
    let app = TestApp::spawn().await;
    create_event_type(&app, "order.placed", order_schemas(), true).await;
    let app_id = new_app(&app).await;
    let post = |body: Value| {
        app.http
            .post(app.url(&format!("/app/{app_id}/msg")))
            .bearer_auth(TOKEN)
            .header("idempotency-key", "order-42")
            .json(&body)
            .send()
    };
    let bad =
        json!({"eventType": "order.placed", "payload": {"id": "ord_42", "items": [{"price": 0}]}});
    let response = post(bad.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 422);
    // The corrected request, with the same key, runs (a 422 is not remembered) ...
    let good =
        json!({"eventType": "order.placed", "payload": {"id": "ord_42", "items": [{"price": 3}]}});
    let response = post(good.clone()).await.unwrap();
    assert_eq!(response.status().as_u16(), 202);
    let first: Value = response.json().await.unwrap();
    // ... and is the one the key remembers.
    let response = post(good).await.unwrap();
    assert_eq!(response.status().as_u16(), 202);
    assert!(response.headers().contains_key("idempotent-replayed"));
    let replayed: Value = response.json().await.unwrap();
    assert_eq!(replayed["id"], first["id"]);
    assert_eq!(message_count(&app, &app_id).await, 1);

    // A refused message that asked for its application inline creates no application.
    let (status, body) = app
        .post(
            "/app/shop-inline/msg",
            json!({"eventType": "order.placed", "payload": {"id": 1}, "application": {"name": "x", "uid": "shop-inline"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app.get("/app/shop-inline").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_example_is_judged_like_any_message() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let schemas = json!({"1": {
        "type": "object",
        "required": ["id"],
        "examples": [{"id": "ord_1", "items": [{"price": 1}]}, {"items": []}]
    }});
    create_event_type(&app, "order.placed", schemas, true).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}/send-example");
    let (status, body) = app
        .post(
            &path,
            json!({"eventType": "order.placed", "exampleIndex": 0}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let (status, body) = app
        .post(
            &path,
            json!({"eventType": "order.placed", "exampleIndex": 1}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["pointer"], "/id", "{body}");
    assert_eq!(message_count(&app, &app_id).await, 1);
}

#[tokio::test]
async fn a_catastrophic_pattern_runs_in_linear_time() {
    let app = TestApp::spawn().await;
    // A backtracking engine takes exponential time on this pattern and input.
    let schemas = json!({"1": {"properties": {"code": {"type": "string", "pattern": "^(a+)+$"}}}});
    create_event_type(&app, "code.sent", schemas, true).await;
    let app_id = new_app(&app).await;
    let hostile = format!("{}!", "a".repeat(50_000));
    let started = Instant::now();
    let (status, body) = send(&app, &app_id, "code.sent", json!({"code": hostile})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["rule"], "pattern", "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}
