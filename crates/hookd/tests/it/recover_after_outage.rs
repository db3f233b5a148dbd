//! `endpoint.recover` after an outage: the endpoint failed until it rested, its deliveries wait
//! for retries an hour away; the user fixes it and recovers, and everything it missed arrives
//! at once instead of at the next probe or retry.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Receiver, Reply, TestApp};

const SETTLE: Duration = Duration::from_secs(10);

#[tokio::test]
async fn recover_after_an_outage_delivers_what_waits_for_a_retry_at_once() {
    const MESSAGES: usize = 5;
    let app = TestApp::spawn_with(|config| config.retry_schedule = "1h,1h".parse().unwrap()).await;
    // Five failures open the circuit; the last asks for an hour's rest. Then the endpoint works.
    let mut script = vec![Reply::status(500); MESSAGES - 1];
    script.push(Reply {
        headers: vec![("retry-after", "3600".to_owned())],
        ..Reply::status(503)
    });
    let receiver = Receiver::start(script).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let (_, first) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "outage.test", "payload": {"n": 0}}),
        )
        .await;
    for n in 1..MESSAGES {
        app.send_message(&app_id, json!({"n": n})).await;
    }
    receiver.wait_for(MESSAGES, SETTLE).await;
    // Every failure is recorded (the last one rests the endpoint) before recovering.
    let last = receiver.received().len();
    let deadline = Instant::now() + SETTLE;
    loop {
        let (status, page) = app
            .get(&format!("/app/{app_id}/attempt/endpoint/{endpoint_id}"))
            .await;
        assert_eq!(status, 200, "{page}");
        if page["data"].as_array().map_or(0, Vec::len) >= MESSAGES {
            break;
        }
        assert!(Instant::now() < deadline, "attempts not recorded: {page}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, task) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/recover"),
            json!({"since": first["timestamp"]}),
        )
        .await;
    assert_eq!(status, 202, "{task}");
    let task_id = task["id"].as_str().unwrap();
    let deadline = Instant::now() + SETTLE;
    let task = loop {
        let (status, task) = app.get(&format!("/background-task/{task_id}")).await;
        assert_eq!(status, 200, "{task}");
        if task["status"] != "running" {
            break task;
        }
        assert!(Instant::now() < deadline, "task never finished: {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(
        task["data"]["messagesSent"], MESSAGES,
        "the deliveries waiting for a retry count: {task}"
    );
    let received = receiver.wait_for(last + MESSAGES, SETTLE).await;
    let redelivered: std::collections::BTreeSet<&str> = received[last..]
        .iter()
        .map(|request| request.header("webhook-id"))
        .collect();
    assert_eq!(redelivered.len(), MESSAGES, "each missed message once");
}
