//! `endpoint.send_example`: an event type's schema example sent to one endpoint only, signed
//! like any message, whatever that endpoint's filters; the application's other endpoints get
//! nothing. Bad bodies are refused at their field, after a missing target's 404.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TestApp, verify_signature};

const WAIT: Duration = Duration::from_secs(20);

async fn create_event_type(app: &TestApp, name: &str, schemas: Value) {
    let (status, created) = app
        .post(
            "/event-type",
            json!({"name": name, "description": "d", "schemas": schemas}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
}

async fn add_endpoint(app: &TestApp, app_id: &str, body: Value) -> String {
    let (status, endpoint) = app.post(&format!("/app/{app_id}/endpoint"), body).await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_example_reaches_only_its_endpoint() {
    let app = TestApp::spawn().await;
    create_event_type(
        &app,
        "user.created",
        json!({
            "1": {"type": "object", "examples": [{"version": 1}]},
            "2": {"type": "object", "examples": [{"user": "first"}, {"user": "second"}]},
        }),
    )
    .await;
    let chosen = Receiver::start(vec![]).await;
    let other = Receiver::start(vec![]).await;
    let (status, application) = app.post("/app", json!({"name": "a"})).await;
    assert_eq!(status, 201);
    let app_id = application["id"].as_str().unwrap();
    // Subscribed to another type: an example is sent on purpose, so filters do not apply.
    let endpoint_id = add_endpoint(
        &app,
        app_id,
        json!({"url": chosen.url, "filterTypes": ["invoice.paid"]}),
    )
    .await;
    add_endpoint(&app, app_id, json!({"url": other.url})).await;

    let path = format!("/app/{app_id}/endpoint/{endpoint_id}/send-example");
    let (status, message) = app
        .post(
            &path,
            json!({"eventType": "user.created", "exampleIndex": 1}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    assert_eq!(message["eventType"], "user.created");
    assert_eq!(message["payload"], json!({"user": "second"}));
    let msg_id = message["id"].as_str().unwrap();
    assert!(msg_id.starts_with("msg_"), "{message}");

    let received = chosen.wait_for(1, WAIT).await;
    let secret = app.endpoint_secret(app_id, &endpoint_id).await;
    verify_signature(&received[0], &secret);
    assert_eq!(received[0].header("webhook-id"), msg_id);
    let body: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(body, json!({"user": "second"}));

    // The first example by default; the message is listed like any other.
    let (status, first) = app.post(&path, json!({"eventType": "user.created"})).await;
    assert_eq!(
        (status, &first["payload"]),
        (202, &json!({"user": "first"}))
    );
    chosen.wait_for(2, WAIT).await;
    let (_, destinations) = app
        .get(&format!("/app/{app_id}/msg/{msg_id}/endpoint"))
        .await;
    let destinations = destinations["data"].as_array().unwrap();
    assert_eq!(destinations.len(), 1, "{destinations:?}");
    assert_eq!(destinations[0]["id"], endpoint_id.as_str());

    // The other endpoint, which accepts every type, has no delivery of either example. A
    // message sent afterwards reaches it, so it was reachable all along.
    app.send_message(app_id, json!({"after": true})).await;
    let to_other = other.wait_for(1, WAIT).await;
    let body: Value = serde_json::from_slice(&to_other[0].body).unwrap();
    assert_eq!(body, json!({"after": true}));
    let (_, destinations) = app
        .get(&format!(
            "/app/{app_id}/msg/{}/endpoint",
            first["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(
        destinations["data"].as_array().unwrap().len(),
        1,
        "{destinations}"
    );
    for request in other.received() {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        assert_eq!(body, json!({"after": true}), "only the ordinary message");
    }
}

#[tokio::test]
async fn a_given_payload_is_sent_instead_of_the_example() {
    let app = TestApp::spawn().await;
    create_event_type(&app, "no.examples", json!({"1": {"type": "object"}})).await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/send-example"),
            json!({"eventType": "no.examples", "payload": {"custom": [1, 2]}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        &received[0].body[..],
        br#"{"custom":[1,2]}"#,
        "the given bytes"
    );
}

#[tokio::test]
async fn bad_examples_are_refused_at_their_field() {
    let app = TestApp::spawn().await;
    create_event_type(&app, "no.examples", json!({"1": {"type": "object"}})).await;
    create_event_type(
        &app,
        "scalar.example",
        json!({"1": {"examples": [{"a": 1}, "text"]}}),
    )
    .await;
    let (status, _) = app
        .post(
            "/event-type",
            json!({"name": "no.schema", "description": "d"}),
        )
        .await;
    assert_eq!(status, 201);
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}/send-example");
    #[rustfmt::skip]
    let cases = [
        (json!({"eventType": "missing.type"}), "eventType", "there is no event type missing.type"),
        (json!({"eventType": "no.examples"}), "eventType", "the event type has no schema with examples to send"),
        (json!({"eventType": "no.schema"}), "eventType", "the event type has no schema with examples to send"),
        (json!({"eventType": "scalar.example", "exampleIndex": 1}), "exampleIndex", "example 1 of the event type's schema is not a JSON object"),
        (json!({"eventType": "scalar.example", "exampleIndex": 2}), "exampleIndex", "the event type's schema has 2 examples; exampleIndex 2 is past the last"),
        (json!({"eventType": "scalar.example", "exampleIndex": -1}), "exampleIndex", "exampleIndex must be 0 or more"),
        (json!({"exampleIndex": 0}), "eventType", ""),
    ];
    for (body, field, message) in cases {
        let (status, answer) = app.post(&path, body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["body", field]),
            "{body}: {answer}"
        );
        if !message.is_empty() {
            assert_eq!(answer["detail"][0]["msg"], message, "{body}: {answer}");
        }
    }
    // Nothing was sent by any of them.
    let (_, messages) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(messages["data"], json!([]), "{messages}");

    // A missing application or endpoint is answered first, even with a bad body.
    for missing in [
        format!("/app/app_missing/endpoint/{endpoint_id}/send-example"),
        format!("/app/{app_id}/endpoint/ep_missing/send-example"),
    ] {
        for body in [
            json!({"eventType": "missing.type"}),
            json!({"eventType": 5}),
        ] {
            let (status, answer) = app.post(&missing, body.clone()).await;
            assert_eq!(
                (status, &answer["code"]),
                (404, &json!("not_found")),
                "{missing} {body}: {answer}"
            );
        }
    }
    let (status, answer) = app.request(Method::POST, &path, None).await;
    assert_eq!(status, 422, "an empty body: {answer}");
}

#[tokio::test]
async fn a_disabled_endpoint_is_refused() {
    let app = TestApp::spawn().await;
    create_event_type(&app, "user.created", json!({"1": {"examples": [{"a": 1}]}})).await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let (status, _) = app
        .request(
            Method::PATCH,
            &format!("/app/{app_id}/endpoint/{endpoint_id}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, answer) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/send-example"),
            json!({"eventType": "user.created"}),
        )
        .await;
    assert_eq!(status, 409, "{answer}");
    assert_eq!(
        answer["detail"],
        "the endpoint is disabled: enable it to send it an example"
    );
}
