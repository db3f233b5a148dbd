//! Operational webhooks: hookd's own events, signed with the operational endpoint's secret, and
//! the automatic disabling of endpoints that keep failing.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Received, Receiver, Reply, TestApp, verify_signature};

const WAIT: Duration = Duration::from_secs(20);

/// Registers an operational endpoint for `types`; returns its receiver and secret.
async fn operational_receiver(app: &TestApp, types: &[&str]) -> (Receiver, String) {
    let receiver = Receiver::start(vec![]).await;
    let (status, endpoint) = app
        .post(
            "/operational-webhook/endpoint",
            json!({"url": receiver.url, "filterTypes": types}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap();
    let (status, secret) = app
        .get(&format!("/operational-webhook/endpoint/{id}/secret"))
        .await;
    assert_eq!(status, 200, "{secret}");
    (receiver, secret["key"].as_str().unwrap().to_owned())
}

fn events(received: &[Received]) -> Vec<Value> {
    received
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

#[tokio::test]
async fn endpoint_changes_are_announced_signed() {
    let app = TestApp::spawn().await;
    let (operator, secret) = operational_receiver(
        &app,
        &["endpoint.created", "endpoint.updated", "endpoint.deleted"],
    )
    .await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let path = format!("/app/{app_id}/endpoint/{endpoint_id}");
    let (status, _) = app
        .request(
            reqwest::Method::PATCH,
            &path,
            Some(json!({"description": "x"})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = app.request(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204);

    let received = operator.wait_for(3, WAIT).await;
    for request in &received {
        verify_signature(request, &secret);
    }
    let events = events(&received);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["endpoint.created", "endpoint.updated", "endpoint.deleted"]
    );
    assert_eq!(events[0]["data"]["appId"], app_id.as_str());
    assert_eq!(events[0]["data"]["endpointId"], endpoint_id.as_str());
}

#[tokio::test]
async fn the_operational_application_is_not_an_application() {
    let app = TestApp::spawn().await;
    operational_receiver(&app, &["endpoint.created"]).await;
    let (_, list) = app.get("/app").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    let (status, _) = app.get("/app/app_operational").await;
    assert_eq!(status, 404);
    let (status, _) = app.get("/app/app_operational/endpoint").await;
    assert_eq!(status, 404);
    let (status, _) = app
        .post(
            "/app/app_operational/msg",
            json!({"eventType": "endpoint.created", "payload": {}}),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn exhausted_and_recovered_messages_are_announced() {
    let app = TestApp::spawn_with(|config| {
        config.retry_schedule = "50ms,50ms,50ms,50ms".parse().unwrap();
    })
    .await;
    let (operator, _) = operational_receiver(
        &app,
        &[
            "message.attempt.failing",
            "message.attempt.exhausted",
            "message.attempt.recovered",
        ],
    )
    .await;
    // The first message fails four times, then succeeds: failing, then recovered.
    let receiver = Receiver::start(vec![Reply::status(500); 4]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let recovered = app.send_message(&app_id, json!({})).await;
    let events_seen = events(&operator.wait_for(2, WAIT).await);
    let types: Vec<&str> = events_seen
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        ["message.attempt.failing", "message.attempt.recovered"]
    );
    assert_eq!(events_seen[1]["data"]["msgId"], recovered.as_str());
    assert_eq!(events_seen[1]["data"]["endpointId"], endpoint_id.as_str());

    // A second endpoint that always fails: its message is exhausted after five attempts.
    let failing = Receiver::start(vec![Reply::status(503); 100]).await;
    let (other_app, _) = app.app_with_endpoint(&failing.url).await;
    let exhausted = app.send_message(&other_app, json!({})).await;
    let all = events(&operator.wait_for(4, WAIT).await);
    let last = &all[3];
    assert_eq!(last["type"], "message.attempt.exhausted", "{all:?}");
    assert_eq!(last["data"]["msgId"], exhausted.as_str());
    assert_eq!(last["data"]["lastAttempt"]["responseStatusCode"], 503);
}

#[tokio::test]
async fn an_endpoint_failing_for_too_long_is_disabled_and_announced() {
    let app = TestApp::spawn_with(|config| {
        config.retry_schedule = "300ms,300ms,300ms,300ms,300ms,300ms".parse().unwrap();
        config.disable_after = Duration::from_secs(1);
    })
    .await;
    let (operator, _) = operational_receiver(&app, &["endpoint.disabled"]).await;
    let receiver = Receiver::start(vec![Reply::status(500); 100]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let started = Instant::now();
    app.send_message(&app_id, json!({})).await;

    let announced = events(&operator.wait_for(1, WAIT).await);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "disabled before failing for 1 s"
    );
    assert_eq!(announced[0]["type"], "endpoint.disabled");
    assert_eq!(announced[0]["data"]["endpointId"], endpoint_id.as_str());
    assert_eq!(announced[0]["data"]["trigger"], "automatic");
    assert!(announced[0]["data"]["failSince"].is_string());
    let (_, endpoint) = app
        .get(&format!("/app/{app_id}/endpoint/{endpoint_id}"))
        .await;
    assert_eq!(endpoint["disabled"], true);
    // Disabled means no more attempts; the message is kept.
    let attempts_then = receiver.received().len();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(receiver.received().len(), attempts_then);
}

#[tokio::test]
async fn a_success_resets_the_failing_clock() {
    let app = TestApp::spawn_with(|config| {
        config.retry_schedule = "300ms,300ms,300ms,300ms,300ms,300ms".parse().unwrap();
        config.disable_after = Duration::from_secs(1);
    })
    .await;
    // Fail, succeed, fail, succeed, ...: never a full second of failure without a success.
    let script: Vec<Reply> = (0..20)
        .map(|n| Reply::status(if n % 2 == 0 { 500 } else { 200 }))
        .collect();
    let receiver = Receiver::start(script).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    for n in 0..6 {
        app.send_message(&app_id, json!({"n": n})).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    receiver.wait_for(10, WAIT).await;
    let (_, endpoint) = app
        .get(&format!("/app/{app_id}/endpoint/{endpoint_id}"))
        .await;
    assert_eq!(endpoint["disabled"], false, "{endpoint}");
}

#[tokio::test]
async fn changing_an_endpoints_headers_is_an_update() {
    let app = TestApp::spawn().await;
    let (operator, _) = operational_receiver(&app, &["endpoint.updated"]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let (status, body) = app
        .request(
            reqwest::Method::PUT,
            &format!("/app/{app_id}/endpoint/{endpoint_id}/headers"),
            Some(json!({"headers": {"x-team": "core"}})),
        )
        .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let received = events(&operator.wait_for(1, WAIT).await);
    assert_eq!(received[0]["type"], "endpoint.updated");
    assert_eq!(received[0]["data"]["endpointId"], endpoint_id.as_str());
}
