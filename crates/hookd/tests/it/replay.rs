//! Replays: one message to all its endpoints, `endpoint.recover` over a failure window, bulk
//! replay with a dry run, background task status, and the operator CLI on top of them.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Receiver, Reply, TOKEN, TestApp, TestClient, verify_signature};

const SETTLE: Duration = Duration::from_secs(10);

/// hookd with no retries, so a failed attempt is a failed delivery at once.
async fn app_without_retries() -> TestApp {
    TestApp::spawn_with(|config| config.retry_schedule = "".parse().unwrap()).await
}

/// Sends a message and waits until its one attempt is recorded; returns the message.
async fn send_and_settle(app: &TestClient, app_id: &str, event_type: &str) -> Value {
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": event_type, "payload": {"n": 1}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    let msg_id = message["id"].as_str().unwrap();
    app.wait_for_attempts(app_id, msg_id, SETTLE, |attempts| !attempts.is_empty())
        .await;
    message
}

/// Polls a background task until it is no longer running.
async fn wait_for_task(app: &TestClient, task_id: &str) -> Value {
    let deadline = Instant::now() + SETTLE;
    loop {
        let (status, task) = app.get(&format!("/background-task/{task_id}")).await;
        assert_eq!(status, 200, "{task}");
        if task["status"] != "running" {
            return task;
        }
        assert!(Instant::now() < deadline, "task never finished: {task}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn webhook_ids(received: &[crate::harness::Received]) -> BTreeSet<String> {
    received
        .iter()
        .map(|request| request.header("webhook-id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_replayed_message_keeps_its_webhook_id_with_a_new_timestamp_and_signature() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
    receiver.wait_for(1, SETTLE).await;
    // Timestamps have one-second resolution; the replay must carry a later one.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let (status, body) = app
        .post(&format!("/app/{app_id}/msg/{msg_id}/replay"), json!({}))
        .await;
    assert_eq!((status, body), (202, json!({})));
    let received = receiver.wait_for(2, SETTLE).await;

    let (original, replay) = (&received[0], &received[1]);
    assert_eq!(replay.header("webhook-id"), msg_id);
    assert_eq!(replay.header("webhook-id"), original.header("webhook-id"));
    assert!(
        replay.header("webhook-timestamp").parse::<i64>().unwrap()
            > original.header("webhook-timestamp").parse::<i64>().unwrap()
    );
    assert_eq!(replay.body, original.body);
    verify_signature(replay, &secret);
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, SETTLE, |attempts| attempts.len() == 2)
        .await;
    let triggers: BTreeSet<i64> = attempts
        .iter()
        .map(|attempt| attempt["triggerType"].as_i64().unwrap())
        .collect();
    assert_eq!(triggers, BTreeSet::from([0, 1]));

    let (status, _) = app
        .post(&format!("/app/{app_id}/msg/msg_unknown/replay"), json!({}))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn recover_redelivers_exactly_the_failures_inside_the_window() {
    let app = app_without_retries().await;
    // Before the window: delivered. Inside it: two failures. At `until` and after: a failure
    // that recovery must leave alone.
    let receiver = Receiver::start(vec![
        Reply::status(200),
        Reply::status(500),
        Reply::status(503),
        Reply::status(500),
    ])
    .await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let before = send_and_settle(&app, &app_id, "a").await;
    let first_failure = send_and_settle(&app, &app_id, "a").await;
    let second_failure = send_and_settle(&app, &app_id, "b").await;
    let after = send_and_settle(&app, &app_id, "a").await;
    assert_eq!(receiver.received().len(), 4);
    assert_ne!(before["timestamp"], first_failure["timestamp"]);

    let (status, task) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/recover"),
            json!({"since": first_failure["timestamp"], "until": after["timestamp"]}),
        )
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["task"], "endpoint.recover");
    assert!(task["id"].as_str().unwrap().starts_with("qtask_"));
    assert!(task["updatedAt"].is_string());

    let finished = wait_for_task(&app, task["id"].as_str().unwrap()).await;
    assert_eq!(finished["status"], "finished", "{finished}");
    assert_eq!(finished["data"]["messagesSent"], 2);
    let received = receiver.wait_for(6, SETTLE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        6,
        "only the two failures come again"
    );
    let recovered = webhook_ids(&received[4..]);
    let expected: BTreeSet<String> = [&first_failure, &second_failure]
        .iter()
        .map(|message| message["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(recovered, expected);

    // A second recovery finds nothing: the latest deliveries succeeded.
    let (_, again) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/recover"),
            json!({"since": before["timestamp"]}),
        )
        .await;
    let again = wait_for_task(&app, again["id"].as_str().unwrap()).await;
    assert_eq!(
        again["data"]["messagesSent"], 1,
        "only the failure after the window"
    );

    let (status, error) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/recover"),
            json!({"since": after["timestamp"], "until": before["timestamp"]}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
}

#[tokio::test]
async fn a_bulk_dry_run_counts_what_the_real_run_queues() {
    let app = app_without_retries().await;
    let receiver = Receiver::start(vec![
        Reply::status(500),
        Reply::status(500),
        Reply::status(500),
        Reply::status(200),
    ])
    .await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let first = send_and_settle(&app, &app_id, "invoice.paid").await;
    send_and_settle(&app, &app_id, "invoice.paid").await;
    send_and_settle(&app, &app_id, "invoice.voided").await;
    send_and_settle(&app, &app_id, "invoice.paid").await;
    let filter = json!({
        "eventTypes": ["invoice.paid"], "status": "failed", "since": first["timestamp"],
    });

    let mut dry_run = filter.clone();
    dry_run["dryRun"] = json!(true);
    let (status, counted) = app.post(&format!("/app/{app_id}/replay"), dry_run).await;
    assert_eq!(
        (status, counted),
        (200, json!({"count": 2, "stillRetrying": 0}))
    );
    let mut any = filter.clone();
    any["status"] = json!("any");
    any["dryRun"] = json!(true);
    let (_, counted_any) = app.post(&format!("/app/{app_id}/replay"), any).await;
    assert_eq!(counted_any, json!({"count": 3, "stillRetrying": 0}));

    let (status, task) = app.post(&format!("/app/{app_id}/replay"), filter).await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["status"], "running");
    assert_eq!(task["task"], "endpoint.bulk-replay");
    let finished = wait_for_task(&app, task["id"].as_str().unwrap()).await;
    assert_eq!(finished["status"], "finished");
    assert_eq!(finished["data"]["messagesSent"], 2);
    receiver.wait_for(6, SETTLE).await;

    let (status, tasks) = app.get("/background-task?status=finished").await;
    assert_eq!(status, 200);
    assert_eq!(tasks["data"][0]["id"], task["id"]);
    let (status, _) = app.get("/background-task?status=sleeping").await;
    assert_eq!(status, 422);
    let (status, _) = app.get("/background-task/qtask_unknown").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn replay_missing_sends_what_a_new_endpoint_never_got() {
    let app = TestApp::spawn().await;
    let early = Receiver::start(vec![]).await;
    let (app_id, _) = app.app_with_endpoint(&early.url).await;
    let message = send_and_settle(&app, &app_id, "a").await;
    let late = Receiver::start(vec![]).await;
    let (status, endpoint) = app
        .post(&format!("/app/{app_id}/endpoint"), json!({"url": late.url}))
        .await;
    assert_eq!(status, 201, "{endpoint}");

    let (status, task) = app
        .post(
            &format!(
                "/app/{app_id}/endpoint/{}/replay-missing",
                endpoint["id"].as_str().unwrap()
            ),
            json!({"since": message["timestamp"]}),
        )
        .await;
    assert_eq!(status, 202, "{task}");
    assert_eq!(task["task"], "endpoint.replay");
    let finished = wait_for_task(&app, task["id"].as_str().unwrap()).await;
    assert_eq!(finished["data"]["messagesSent"], 1);
    let received = late.wait_for(1, SETTLE).await;
    assert_eq!(
        received[0].header("webhook-id"),
        message["id"].as_str().unwrap()
    );
}

/// Runs the built `hookd` binary against a test server.
fn hookd_cli(server: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args(args)
        .env("HOOKD_SERVER", server)
        .env("HOOKD_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("running hookd")
}

#[tokio::test]
async fn the_operator_cli_lists_attempts_and_counts_a_replay() {
    let app = app_without_retries().await;
    let receiver = Receiver::start(vec![Reply::status(500)]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let message = send_and_settle(&app, &app_id, "invoice.paid").await;
    let msg_id = message["id"].as_str().unwrap().to_owned();
    let since = message["timestamp"].as_str().unwrap().to_owned();
    let server = app.url("").trim_end_matches("/api/v1").to_owned();

    let listed = {
        let (server, app_id, msg_id) = (server.clone(), app_id.clone(), msg_id.clone());
        tokio::task::spawn_blocking(move || {
            hookd_cli(
                &server,
                &["attempts", "list", "--app", &app_id, "--msg", &msg_id],
            )
        })
        .await
        .unwrap()
    };
    let table = String::from_utf8_lossy(&listed.stdout);
    assert!(listed.status.success(), "{listed:?}");
    assert!(table.starts_with("TIMESTAMP"), "{table}");
    assert!(table.contains(&msg_id) && table.contains("fail") && table.contains("500"));

    let by_endpoint = {
        let (server, app_id) = (server.clone(), app_id.clone());
        tokio::task::spawn_blocking(move || {
            let args = [
                "attempts",
                "list",
                "--app",
                &app_id,
                "--endpoint",
                &endpoint_id,
            ];
            let mut args = args.to_vec();
            args.extend(["--status", "success"]);
            hookd_cli(&server, &args)
        })
        .await
        .unwrap()
    };
    assert!(String::from_utf8_lossy(&by_endpoint.stdout).contains("(no attempts)"));

    let dry_run = {
        let (server, app_id) = (server.clone(), app_id.clone());
        tokio::task::spawn_blocking(move || {
            hookd_cli(
                &server,
                &[
                    "replay",
                    "--app",
                    &app_id,
                    "--event-type",
                    "invoice.paid",
                    "--since",
                    &since,
                    "--dry-run",
                ],
            )
        })
        .await
        .unwrap()
    };
    assert!(dry_run.status.success(), "{dry_run:?}");
    assert_eq!(
        String::from_utf8_lossy(&dry_run.stdout),
        "1 delivery matches\n"
    );

    let replayed = {
        let (server, app_id) = (server.clone(), app_id.clone());
        tokio::task::spawn_blocking(move || {
            hookd_cli(
                &server,
                &[
                    "replay",
                    "--app",
                    &app_id,
                    "--since",
                    "2000-01-01T00:00:00Z",
                ],
            )
        })
        .await
        .unwrap()
    };
    let output = String::from_utf8_lossy(&replayed.stdout);
    assert!(replayed.status.success(), "{replayed:?}");
    assert!(output.contains("finished, 1 of about 1 queued"), "{output}");
    receiver.wait_for(2, SETTLE).await;

    let missing = tokio::task::spawn_blocking(move || {
        hookd_cli(
            &server,
            &["attempts", "list", "--app", "app_nope", "--msg", "msg_nope"],
        )
    })
    .await
    .unwrap();
    assert!(!missing.status.success());
    let error = String::from_utf8_lossy(&missing.stderr);
    assert!(
        error.contains("404") && error.contains("not found"),
        "{error}"
    );

    let unreachable = tokio::task::spawn_blocking(|| {
        hookd_cli(
            "http://127.0.0.1:9",
            &["attempts", "list", "--app", "a", "--msg", "m"],
        )
    })
    .await
    .unwrap();
    assert!(!unreachable.status.success());
    let error = String::from_utf8_lossy(&unreachable.stderr);
    assert!(
        error.contains("cannot reach hookd at http://127.0.0.1:9"),
        "{error}"
    );
}

#[tokio::test]
async fn both_bulk_replays_refuse_a_bad_event_type_with_the_same_error() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let body = json!({
        "since": "2026-01-01T00:00:00Z", "eventTypes": ["invoice.paid", "not a type"],
    });

    let (status, by_filter) = app
        .post(&format!("/app/{app_id}/replay"), body.clone())
        .await;
    let (endpoint_status, by_endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/bulk-replay"),
            body,
        )
        .await;

    assert_eq!(
        (status, endpoint_status),
        (422, 422),
        "{by_filter} {by_endpoint}"
    );
    assert_eq!(
        by_filter["detail"][0]["loc"],
        json!(["body", "eventTypes", "1"])
    );
    assert_eq!(by_filter, by_endpoint);
}

#[tokio::test]
async fn bulk_replays_and_recovery_leave_out_messages_whose_content_was_expunged() {
    // Two failures; the first one's content is then expunged. A replay could only send `{}`
    // for it (or fail), so the bulk replay, its dry run and recovery take the other one only,
    // as a single resend or replay of it is refused.
    let app = app_without_retries().await;
    // Every attempt fails, so `kept` stays a failure for the recovery after the replay.
    let receiver = Receiver::start(vec![Reply::status(500); 4]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let expunged = send_and_settle(&app, &app_id, "a").await;
    let kept = send_and_settle(&app, &app_id, "a").await;
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!(
                "/app/{app_id}/msg/{}/content",
                expunged["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let since = expunged["timestamp"].clone();

    let (status, counted) = app
        .post(
            &format!("/app/{app_id}/replay"),
            json!({"since": since, "dryRun": true}),
        )
        .await;
    assert_eq!((status, counted["count"].clone()), (200, json!(1)));
    for path in [
        format!("/app/{app_id}/replay"),
        format!("/app/{app_id}/endpoint/{endpoint_id}/recover"),
    ] {
        let (status, task) = app.post(&path, json!({"since": since})).await;
        assert_eq!(status, 202, "{path}: {task}");
        let finished = wait_for_task(&app, task["id"].as_str().unwrap()).await;
        assert_eq!(finished["status"], "finished", "{finished}");
        assert_eq!(finished["data"]["messagesSent"], 1, "{path}: {finished}");
        // Its attempt is recorded (a failure again) before the next task selects.
        let kept_id = kept["id"].as_str().unwrap();
        app.wait_for_attempts(&app_id, kept_id, SETTLE, |attempts| {
            attempts.len() >= if path.ends_with("/replay") { 2 } else { 3 }
        })
        .await;
    }
    let received = receiver.wait_for(4, SETTLE).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        4,
        "two originals, two replays of `kept`"
    );
    let kept_id = kept["id"].as_str().unwrap();
    for replayed in &received[2..] {
        assert_eq!(replayed.header("webhook-id"), kept_id);
    }
}
