//! The delivery path end to end on PostgreSQL: in-process hookd (`TestApp`) with its data in a
//! fresh schema. A smoke subset of `delivery`, plus two nodes sharing one schema.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Receiver, Reply, TestApp, verify_signature};
use crate::postgres_schema::TestSchema;

const WAIT: Duration = Duration::from_secs(15);

async fn spawn_on(schema: &TestSchema, node: &str) -> TestApp {
    let (url, node) = (schema.url.clone(), node.to_owned());
    TestApp::spawn_with(move |config| {
        config.database_url = Some(url);
        config.node_id = Some(node);
    })
    .await
}

#[tokio::test]
async fn postgres_a_message_is_delivered_signed() {
    let schema = TestSchema::create("postgres_a_message_is_delivered_signed").await;
    let app = spawn_on(&schema, "solo").await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"amount": 42})).await;

    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(received[0].header("webhook-id"), msg_id);
    assert_eq!(received[0].header("user-agent"), "hookd/0.1.0 (node solo)");
    verify_signature(
        &received[0],
        &app.endpoint_secret(&app_id, &endpoint_id).await,
    );
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    assert_eq!(attempts[0]["status"], 0);
    assert_eq!(attempts[0]["responseStatusCode"], 200);
}

#[tokio::test]
async fn postgres_failures_are_retried_with_the_same_webhook_id() {
    let schema = TestSchema::create("postgres_failures_are_retried").await;
    let app = spawn_on(&schema, "solo").await;
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(500)]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;

    let received = receiver.wait_for(3, WAIT).await;
    assert!(received.iter().all(|r| r.header("webhook-id") == msg_id));
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 3)
        .await;
    let mut statuses: Vec<i64> = attempts
        .iter()
        .map(|attempt| attempt["status"].as_i64().unwrap())
        .collect();
    statuses.reverse();
    assert_eq!(statuses, vec![2, 2, 0]);
    assert!(received[1].at - received[0].at >= Duration::from_millis(150));
}

#[tokio::test]
async fn postgres_a_message_accepted_by_one_node_is_delivered_once_by_the_pair() {
    let schema = TestSchema::create("postgres_two_nodes").await;
    let first = spawn_on(&schema, "first").await;
    let second = spawn_on(&schema, "second").await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, _) = first.app_with_endpoint(&receiver.url).await;
    // The second node sees the first node's application: the data is shared.
    let (status, _) = second.get(&format!("/app/{app_id}")).await;
    assert_eq!(status, 200);
    let mut sent = Vec::new();
    for n in 0..20 {
        let node = if n % 2 == 0 { &first } else { &second };
        sent.push(node.send_message(&app_id, json!({"n": n})).await);
    }
    receiver.wait_for(sent.len(), WAIT).await;
    // Give a wrongly doubled delivery the time to show up before counting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut delivered: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    delivered.sort();
    sent.sort();
    assert_eq!(delivered, sent, "each message exactly once");
}

#[tokio::test]
async fn postgres_a_throttle_and_a_circuit_hold_across_two_nodes() {
    let schema = TestSchema::create("postgres_throttle_two_nodes").await;
    let first = spawn_on(&schema, "first").await;
    let second = spawn_on(&schema, "second").await;

    // Throttle: 5 per second for the endpoint, whichever node sends. Two nodes that each kept
    // their own bucket would send about twice as fast.
    let receiver = Receiver::start(vec![]).await;
    let (status, created) = first.post("/app", json!({"name": "throttled"})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = first
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "throttleRate": 5}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let started = std::time::Instant::now();
    for n in 0..10 {
        let node = if n % 2 == 0 { &first } else { &second };
        node.send_message(&app_id, json!({"n": n})).await;
    }
    let received = receiver.wait_for(10, Duration::from_secs(20)).await;
    let last = received.iter().map(|request| request.at).max().unwrap();
    assert!(
        last - started >= Duration::from_millis(1600),
        "10 deliveries at 5/s across two nodes took {:?}",
        last - started
    );

    // Circuit: five failures rest the endpoint for both nodes; then a single probe.
    let failing = Receiver::start(vec![Reply::status(500); 1000]).await;
    let (failing_app, _) = first.app_with_endpoint(&failing.url).await;
    for n in 0..10 {
        let node = if n % 2 == 0 { &first } else { &second };
        node.send_message(&failing_app, json!({"n": n})).await;
    }
    let opened_at = failing.wait_for(5, WAIT).await[4].at;
    tokio::time::sleep_until((opened_at + Duration::from_secs(1)).into()).await;
    let first_wave = failing.received().len();
    tokio::time::sleep_until((opened_at + Duration::from_millis(3500)).into()).await;
    assert_eq!(
        failing.received().len(),
        first_wave,
        "a node sent while the endpoint rested"
    );
}
