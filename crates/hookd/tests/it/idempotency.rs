//! `Idempotency-Key` over real HTTP: a stored answer never gives back content that was expunged
//! or purged, and a key is forgotten once the idempotency window (12 h by default) has passed.
//! Time is a `ManualClock`, so nothing here waits for hours.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd::app::Dependencies;
use hookd::clock::ManualClock;
use hookd::engine::client::SystemResolver;
use serde_json::{Value, json};

use crate::harness::{TOKEN, TestApp, TestClient};

/// How long a background sweep may take to show under a loaded machine; a wait, not an assert.
const SETTLE: Duration = Duration::from_secs(10);

/// One POST with an `Idempotency-Key`: (status, replayed?, body).
pub(crate) async fn post_with_key(
    app: &TestClient,
    path: &str,
    key: &str,
    body: &Value,
) -> (u16, bool, Value) {
    let response = app
        .http
        .post(app.url(path))
        .bearer_auth(TOKEN)
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .expect("request reaches hookd");
    let status = response.status().as_u16();
    let replayed = response.headers().get("idempotent-replayed").is_some();
    let body = response.json().await.expect("a JSON answer");
    (status, replayed, body)
}

async fn new_app(app: &TestClient) -> String {
    let (status, created) = app.post("/app", json!({"name": "idempotency"})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn message_count(app: &TestClient, app_id: &str) -> usize {
    let (status, page) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().len()
}

fn manual_clock_deps(clock: &Arc<ManualClock>) -> Dependencies {
    Dependencies {
        clock: clock.clone(),
        resolver: Arc::new(SystemResolver),
    }
}

#[tokio::test]
async fn a_replayed_key_does_not_give_back_expunged_content() {
    let app = TestApp::spawn().await;
    let app_id = new_app(&app).await;
    let path = format!("/app/{app_id}/msg");
    let body = json!({"eventType": "user.deleted", "payload": {"email": "erase-me@example.com"}});

    let (status, replayed, first) = post_with_key(&app, &path, "key-expunge", &body).await;
    assert_eq!((status, replayed), (202, false), "{first}");
    assert_eq!(first["payload"], body["payload"]);
    let msg_id = first["id"].as_str().unwrap();

    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/app/{app_id}/msg/{msg_id}/content"),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let (status, replayed, again) = post_with_key(&app, &path, "key-expunge", &body).await;
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(again["id"], first["id"], "the replay is the first answer");
    assert_eq!(again["payload"], json!({}), "expunged content came back");
    assert_eq!(again["eventType"], first["eventType"]);
    assert_eq!(message_count(&app, &app_id).await, 1, "no second message");
}

#[tokio::test]
async fn a_replayed_key_does_not_give_back_content_purged_by_retention() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let app = TestApp::spawn_with_deps(
        |config| {
            // Shorter than the idempotency window, so the key is still remembered when the
            // payload is purged.
            config.payload_retention = Duration::from_secs(3600);
            config.retention_interval = Duration::from_millis(50);
        },
        manual_clock_deps(&clock),
    )
    .await;
    let app_id = new_app(&app).await;
    let path = format!("/app/{app_id}/msg");
    let body = json!({"eventType": "user.created", "payload": {"name": "old news"}});
    let (status, _, first) = post_with_key(&app, &path, "key-purge", &body).await;
    assert_eq!(status, 202, "{first}");
    let msg_id = first["id"].as_str().unwrap().to_owned();

    clock.advance(chrono::Duration::hours(2));
    let deadline = Instant::now() + SETTLE;
    loop {
        let (status, message) = app.get(&format!("/app/{app_id}/msg/{msg_id}")).await;
        assert_eq!(status, 200, "{message}");
        if message["payload"] == json!({}) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "retention never purged: {message}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let (status, replayed, again) = post_with_key(&app, &path, "key-purge", &body).await;
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["payload"], json!({}), "purged content came back");
    assert_eq!(message_count(&app, &app_id).await, 1);
}

#[tokio::test]
async fn a_key_repeated_after_the_window_runs_as_a_new_request() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    // The default window: 12 hours.
    let app = TestApp::spawn_with_deps(|_| {}, manual_clock_deps(&clock)).await;
    let app_id = new_app(&app).await;
    let path = format!("/app/{app_id}/msg");
    let body = json!({"eventType": "invoice.paid", "payload": {"n": 1}});

    let (status, replayed, first) = post_with_key(&app, &path, "key-window", &body).await;
    assert_eq!((status, replayed), (202, false), "{first}");

    clock.advance(chrono::Duration::hours(11));
    let (status, replayed, within) = post_with_key(&app, &path, "key-window", &body).await;
    assert_eq!((status, replayed), (202, true), "{within}");
    assert_eq!(within["id"], first["id"]);

    clock.advance(chrono::Duration::hours(2));
    let (status, replayed, after) = post_with_key(&app, &path, "key-window", &body).await;
    assert_eq!((status, replayed), (202, false), "{after}");
    assert_ne!(
        after["id"], first["id"],
        "a forgotten key creates a new message"
    );
    assert_eq!(message_count(&app, &app_id).await, 2);

    // The new answer is remembered in its turn.
    let (status, replayed, again) = post_with_key(&app, &path, "key-window", &body).await;
    assert_eq!((status, replayed), (202, true), "{again}");
    assert_eq!(again["id"], after["id"]);
}
