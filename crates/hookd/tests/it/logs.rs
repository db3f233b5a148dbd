//! Delivery logs over real HTTP: a message's destinations and attempts, expunging content, the
//! dead-letter view, endpoint statistics, and retention with an injected clock.

use std::sync::Arc;
use std::time::Duration;

use hookd::app::Dependencies;
use hookd::clock::ManualClock;
use hookd::engine::client::SystemResolver;
use serde_json::{Value, json};

use crate::harness::{Receiver, Reply, TestApp, TestClient};

const SETTLE: Duration = Duration::from_secs(10);

async fn patch(app: &TestClient, path: &str, body: Value) -> (u16, Value) {
    app.request(reqwest::Method::PATCH, path, Some(body)).await
}

async fn add_endpoint(app: &TestClient, app_id: &str, url: &str) -> String {
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": url, "uid": format!("ep-{}", rand::random::<u32>())}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestClient, app_id: &str, body: Value) -> String {
    let (status, message) = app.post(&format!("/app/{app_id}/msg"), body).await;
    assert_eq!(status, 202, "{message}");
    message["id"].as_str().unwrap().to_owned()
}

/// Polls `path` until `done` accepts the body.
async fn wait_until(app: &TestClient, path: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        if done(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never settled: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn by_id<'a>(items: &'a Value, id: &str) -> &'a Value {
    items["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| item["id"] == id || item["endpointId"] == id)
        .unwrap_or_else(|| panic!("{id} not in {items}"))
}

#[tokio::test]
async fn expunged_content_is_gone_and_pending_deliveries_fail() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let delivered = app.send_message(&app_id, json!({"secret": 1})).await;
    receiver.wait_for(1, SETTLE).await;

    let path = format!("/app/{app_id}/msg/{delivered}/content");
    let (status, body) = app.request(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 204, "{body}");
    let (_, message) = app.get(&format!("/app/{app_id}/msg/{delivered}")).await;
    assert_eq!(message["payload"], json!({}));
    assert_eq!(message["eventType"], "invoice.paid");
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/app/{app_id}/msg/msg_missing/content"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // Expunged before it fell due: every attempt fails without sending.
    let deliver_at = (chrono::Utc::now() + chrono::Duration::seconds(1)).to_rfc3339();
    let later = send(
        &app,
        &app_id,
        json!({"eventType": "invoice.paid", "payload": {"secret": 2}, "deliverAt": deliver_at}),
    )
    .await;
    let (status, _) = app
        .request(
            reqwest::Method::DELETE,
            &format!("/app/{app_id}/msg/{later}/content"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let attempts = app
        .wait_for_attempts(&app_id, &later, SETTLE, |attempts| attempts.len() == 3)
        .await;
    assert!(attempts.iter().all(|attempt| attempt["status"] == 2
        && attempt["response"].as_str().unwrap().contains("expunged")));
    assert_eq!(receiver.received().len(), 1);
}

/// An application with three endpoints: `ok` answers 200, `failing` always 500, and `parked`
/// is disabled while its delivery waits.
struct Scene {
    app: TestApp,
    app_id: String,
    ok: String,
    failing: String,
    parked: String,
    msg_id: String,
    _receivers: [Receiver; 3],
}

async fn scene() -> Scene {
    let ok_receiver = Receiver::start(Vec::new()).await;
    let failing_receiver = Receiver::start(vec![Reply::status(500); 10]).await;
    let parked_receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (app_id, ok) = app.app_with_endpoint(&ok_receiver.url).await;
    let failing = add_endpoint(&app, &app_id, &failing_receiver.url).await;
    let parked = add_endpoint(&app, &app_id, &parked_receiver.url).await;
    let deliver_at = (chrono::Utc::now() + chrono::Duration::milliseconds(800)).to_rfc3339();
    let msg_id = send(
        &app,
        &app_id,
        json!({"eventType": "invoice.paid", "payload": {"n": 1}, "deliverAt": deliver_at}),
    )
    .await;
    let (status, body) = patch(
        &app,
        &format!("/app/{app_id}/endpoint/{parked}"),
        json!({"disabled": true}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // Settled: `ok` delivered, `failing` out of retries (3 attempts), `parked` parked.
    wait_until(
        &app,
        &format!("/app/{app_id}/msg/{msg_id}/endpoint"),
        |page| {
            page["data"].as_array().unwrap().len() == 3
                && page["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|destination| destination["status"] != 1 && destination["status"] != 3)
        },
    )
    .await;
    Scene {
        app,
        app_id,
        ok,
        failing,
        parked,
        msg_id,
        _receivers: [ok_receiver, failing_receiver, parked_receiver],
    }
}

#[tokio::test]
async fn attempted_destinations_show_each_endpoints_latest_state() {
    let scene = scene().await;
    let (app, app_id, msg_id) = (&scene.app, &scene.app_id, &scene.msg_id);
    let (status, page) = app
        .get(&format!("/app/{app_id}/msg/{msg_id}/endpoint"))
        .await;
    assert_eq!(status, 200, "{page}");
    let ok = by_id(&page, &scene.ok);
    assert_eq!(
        (ok["status"].clone(), ok["statusText"].clone()),
        (json!(0), json!("success"))
    );
    assert_eq!(ok["parked"], false);
    assert!(ok["url"].as_str().unwrap().starts_with("http://127.0.0.1"));
    assert_eq!(ok["description"], "");
    assert!(ok["createdAt"].is_string() && ok["updatedAt"].is_string());
    let failing = by_id(&page, &scene.failing);
    assert_eq!(
        (failing["status"].clone(), failing["parked"].clone()),
        (json!(2), json!(false))
    );
    assert!(failing["uid"].as_str().unwrap().starts_with("ep-"));
    let parked = by_id(&page, &scene.parked);
    assert_eq!(
        (parked["status"].clone(), parked["parked"].clone()),
        (json!(2), json!(true))
    );
    assert_eq!(parked["disabled"], true);

    // Paging by endpoint id, ascending.
    let (_, first) = app
        .get(&format!("/app/{app_id}/msg/{msg_id}/endpoint?limit=2"))
        .await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["done"], false);
    let iterator = first["iterator"].as_str().unwrap();
    let (_, second) = app
        .get(&format!(
            "/app/{app_id}/msg/{msg_id}/endpoint?limit=2&iterator={iterator}"
        ))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["done"], true);
    let (status, _) = app.get("/app/app_missing/msg/x/endpoint").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn dead_letters_list_failed_and_parked_pairs_with_filters_and_summary() {
    let scene = scene().await;
    let (app, app_id, msg_id) = (&scene.app, &scene.app_id, &scene.msg_id);
    let (status, page) = app.get(&format!("/app/{app_id}/dead-letter")).await;
    assert_eq!(status, 200, "{page}");
    let letters = page["data"].as_array().unwrap();
    assert_eq!(letters.len(), 2, "{page}");
    let failing = by_id(&page, &scene.failing);
    assert_eq!(failing["msgId"], *msg_id);
    assert_eq!(failing["statusText"], "fail");
    assert_eq!(failing["attempts"], 3);
    assert_eq!(failing["eventType"], "invoice.paid");
    assert!(failing["lastAttempt"].is_string());
    let parked = by_id(&page, &scene.parked);
    assert_eq!(parked["statusText"], "parked");
    assert_eq!(parked["lastAttempt"], Value::Null);

    let count = |query: String| async move {
        let (status, page) = app.get(&format!("/app/{app_id}/dead-letter?{query}")).await;
        assert_eq!(status, 200, "{page}");
        page["data"].as_array().unwrap().len()
    };
    assert_eq!(count(format!("endpoint_id={}", scene.parked)).await, 1);
    assert_eq!(count(format!("endpoint_id={}", scene.ok)).await, 0);
    assert_eq!(count("event_types=invoice.paid".into()).await, 2);
    assert_eq!(count("event_types=other.event".into()).await, 0);
    let hour_ago = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let encoded: String = url::form_urlencoded::byte_serialize(hour_ago.as_bytes()).collect();
    assert_eq!(count(format!("after={encoded}")).await, 2);
    assert_eq!(count(format!("before={encoded}")).await, 0);
    assert_eq!(count("limit=1".into()).await, 1);

    let (status, summary) = app.get(&format!("/app/{app_id}/dead-letter/summary")).await;
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        summary["total"],
        json!({"fail": 1, "parked": 1, "total": 2})
    );
    assert_eq!(
        summary["byEndpoint"][&scene.failing],
        json!({"fail": 1, "parked": 0, "total": 1})
    );
    assert_eq!(
        summary["byEventType"]["invoice.paid"],
        json!({"fail": 1, "parked": 1, "total": 2})
    );

    // Re-enabled and resent, the pair succeeds and leaves the dead letters.
    let (status, _) = patch(
        app,
        &format!("/app/{app_id}/endpoint/{}", scene.parked),
        json!({"disabled": false}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post(
            &format!(
                "/app/{app_id}/msg/{msg_id}/endpoint/{}/resend",
                scene.parked
            ),
            json!({}),
        )
        .await;
    assert_eq!(status, 202);
    wait_until(app, &format!("/app/{app_id}/dead-letter"), |page| {
        page["data"].as_array().unwrap().len() == 1
    })
    .await;
}

#[tokio::test]
async fn endpoint_stats_count_states_and_window_latency() {
    let scene = scene().await;
    let (app, app_id) = (&scene.app, &scene.app_id);
    let stats = |endpoint: String, query: &'static str| async move {
        let (status, stats) = app
            .get(&format!("/app/{app_id}/endpoint/{endpoint}/stats{query}"))
            .await;
        assert_eq!(status, 200, "{stats}");
        stats
    };
    assert_eq!(
        stats(scene.ok.clone(), "").await,
        json!({"success": 1, "pending": 0, "sending": 0, "fail": 0, "canceled": 0})
    );
    assert_eq!(stats(scene.failing.clone(), "").await["fail"], 1);
    assert_eq!(stats(scene.parked.clone(), "").await["fail"], 1);
    assert_eq!(
        stats(scene.ok.clone(), "?since=2999-01-01T00:00:00Z").await["success"],
        0
    );
    assert_eq!(
        stats(scene.ok.clone(), "?until=2999-01-01T00:00:00Z").await["success"],
        1
    );

    let (status, window) = app
        .get(&format!(
            "/app/{app_id}/endpoint/{}/stats/window?minutes=10&windows=5",
            scene.failing
        ))
        .await;
    assert_eq!(status, 200, "{window}");
    assert_eq!(window["windows"].as_array().unwrap().len(), 5);
    assert_eq!(window["overall"]["attempts"], 3);
    assert_eq!(window["overall"]["successRate"], 0.0);
    assert!(window["overall"]["p50Ms"].is_u64());
    assert!(window["overall"]["p99Ms"].is_u64());
    let (_, ok_window) = app
        .get(&format!("/app/{app_id}/endpoint/{}/stats/window", scene.ok))
        .await;
    assert_eq!(ok_window["overall"]["successRate"], 1.0);
    assert_eq!(ok_window["windows"].as_array().unwrap().len(), 12);
    let (status, _) = app
        .get(&format!(
            "/app/{app_id}/endpoint/{}/stats/window?minutes=0",
            scene.ok
        ))
        .await;
    assert_eq!(status, 422);
}

#[tokio::test]
async fn one_attempt_by_id_and_listing_flags() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"k": 1})).await;
    let other = app.send_message(&app_id, json!({"k": 2})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, SETTLE, |attempts| !attempts.is_empty())
        .await;
    let attempt_id = attempts[0]["id"].as_str().unwrap();

    let (status, attempt) = app
        .get(&format!("/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}"))
        .await;
    assert_eq!(status, 200, "{attempt}");
    assert_eq!(attempt, attempts[0]);
    let (_, with_msg) = app
        .get(&format!(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}?with_msg=true&with_content=false"
        ))
        .await;
    assert_eq!(with_msg["msg"]["id"], msg_id);
    assert_eq!(with_msg["msg"]["payload"], json!({}));
    let (status, _) = app
        .get(&format!("/app/{app_id}/msg/{other}/attempt/{attempt_id}"))
        .await;
    assert_eq!(status, 404, "an attempt of another message");
    let (status, _) = app
        .get(&format!("/app/{app_id}/msg/{msg_id}/attempt/atmpt_missing"))
        .await;
    assert_eq!(status, 404);

    // The SDK's listing flags are accepted.
    for query in [
        "with_content=false",
        "with_content=true&expanded_statuses=true",
        "expanded_statuses=false",
    ] {
        let (status, page) = app
            .get(&format!("/app/{app_id}/attempt/msg/{msg_id}?{query}"))
            .await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{query}");
    }
}

#[tokio::test]
async fn retention_purges_old_payloads_and_bodies_and_keeps_the_rest() {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn_with_deps(
        |config| {
            config.payload_retention = Duration::from_secs(30 * 24 * 3600);
            config.retention_interval = Duration::from_millis(50);
        },
        Dependencies {
            clock: clock.clone(),
            resolver: Arc::new(SystemResolver),
        },
    )
    .await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let old = app.send_message(&app_id, json!({"old": true})).await;
    app.wait_for_attempts(&app_id, &old, SETTLE, |attempts| attempts.len() == 1)
        .await;
    clock.advance(chrono::Duration::days(20));
    let recent = app.send_message(&app_id, json!({"recent": true})).await;
    app.wait_for_attempts(&app_id, &recent, SETTLE, |attempts| attempts.len() == 1)
        .await;
    clock.advance(chrono::Duration::days(11));

    wait_until(&app, &format!("/app/{app_id}/msg/{old}"), |message| {
        message["payload"] == json!({})
    })
    .await;
    let old_attempts = app
        .wait_for_attempts(&app_id, &old, SETTLE, |attempts| {
            attempts.len() == 1 && attempts[0]["response"] == ""
        })
        .await;
    assert_eq!(old_attempts[0]["responseStatusCode"], 200, "metadata kept");
    let (_, message) = app.get(&format!("/app/{app_id}/msg/{recent}")).await;
    assert_eq!(message["payload"], json!({"recent": true}));
    let (_, recent_attempts) = app
        .get(&format!("/app/{app_id}/attempt/msg/{recent}"))
        .await;
    assert_eq!(recent_attempts["data"][0]["response"], "ok");
}
