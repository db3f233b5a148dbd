//! An endpoint's side of the delivery log through the API: Svix's `endpoint.get_attempt_stats`
//! (`GET .../endpoint/{ep}/attempt-stats`) and `message_attempt.list_attempted_messages`
//! (`GET .../endpoint/{ep}/msg`).

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Receiver, Reply, TestApp};

const WAIT: Duration = Duration::from_secs(15);

/// Waits until the message has `count` attempts with a final status.
async fn settle(app: &TestApp, app_id: &str, msg_id: &str, count: usize) {
    app.wait_for_attempts(app_id, msg_id, WAIT, |attempts| {
        attempts
            .iter()
            .filter(|attempt| attempt["status"] == 0 || attempt["status"] == 2)
            .count()
            == count
    })
    .await;
}

#[tokio::test]
async fn attempt_stats_count_attempts_by_outcome_in_whole_hours() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(500), Reply::status(200)]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let stats = format!("/app/{app_id}/endpoint/{endpoint_id}/attempt-stats");
    let (status, empty) = app.get(&stats).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty, json!({"success": 0, "fail": 0, "canceled": 0}));

    let retried = app.send_message(&app_id, json!({"n": 1})).await;
    settle(&app, &app_id, &retried, 2).await;
    let once = app.send_message(&app_id, json!({"n": 2})).await;
    settle(&app, &app_id, &once, 1).await;
    let (_, all) = app.get(&stats).await;
    assert_eq!(all, json!({"success": 2, "fail": 1, "canceled": 0}));

    // A window inside the current hour is widened to the whole hour, so it counts them all.
    let now = chrono::Utc::now();
    let within = |minutes: i64| {
        let at = now + chrono::Duration::minutes(minutes);
        at.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
    };
    let hour_start = now.format("%Y-%m-%dT%H:00:00Z").to_string();
    let (_, widened) = app
        .get(&format!("{stats}?since={}&until={}", hour_start, within(0)))
        .await;
    assert_eq!(widened, all, "until rounds up to the next hour");
    let (_, future) = app.get(&format!("{stats}?since={}", within(120))).await;
    assert_eq!(future, json!({"success": 0, "fail": 0, "canceled": 0}));
    let (_, past) = app
        .get(&format!("{stats}?until=2020-01-01T00:30:00Z"))
        .await;
    assert_eq!(past, json!({"success": 0, "fail": 0, "canceled": 0}));
}

#[tokio::test]
async fn attempt_stats_refuse_bad_windows_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let stats = format!("/app/{app_id}/endpoint/{endpoint_id}/attempt-stats");
    let check = |query: &'static str, name: &'static str| {
        let app = &app;
        let stats = &stats;
        async move {
            let (status, answer): (u16, Value) = app.get(&format!("{stats}?{query}")).await;
            assert_eq!(status, 422, "{query}: {answer}");
            assert_eq!(
                answer["detail"][0]["loc"],
                json!(["query", name]),
                "{query}"
            );
        }
    };
    check("since=yesterday", "since").await;
    check("until=2024-13-01T00:00:00Z", "until").await;
    check(
        "since=2024-01-02T00:00:00Z&until=2024-01-01T00:00:00Z",
        "until",
    )
    .await;
    check(
        "since=2024-01-01T00:00:00Z&until=2024-01-01T00:00:00Z",
        "until",
    )
    .await;
    let (status, answer) = app
        .get(&format!("/app/{app_id}/endpoint/ep_missing/attempt-stats"))
        .await;
    assert_eq!((status, &answer["code"]), (404, &json!("not_found")));
}

#[tokio::test]
async fn an_endpoints_messages_list_with_their_status_there() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::status(200)]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let (status, parked) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": "http://127.0.0.1:9/never", "disabled": true}),
        )
        .await;
    assert_eq!(status, 201, "{parked}");
    let first = app.send_message(&app_id, json!({"n": 1})).await;
    settle(&app, &app_id, &first, 1).await;
    let (status, second) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "invoice.voided", "payload": {"n": 2}, "channels": ["eu"],
                   "tags": ["t1"]}),
        )
        .await;
    assert_eq!(status, 202, "{second}");
    let second = second["id"].as_str().unwrap().to_owned();
    settle(&app, &app_id, &second, 1).await;

    let listing = format!("/app/{app_id}/endpoint/{endpoint_id}/msg");
    let (status, page) = app.get(&listing).await;
    assert_eq!(status, 200, "{page}");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{page}");
    assert_eq!(data[0]["id"], second.as_str(), "newest first");
    assert_eq!(data[0]["eventType"], "invoice.voided");
    assert_eq!(data[0]["payload"], json!({"n": 2}));
    assert_eq!(data[0]["channels"], json!(["eu"]));
    assert_eq!(data[0]["tags"], json!(["t1"]));
    assert_eq!(
        (&data[0]["status"], &data[0]["statusText"]),
        (&json!(0), &json!("success"))
    );
    assert_eq!(data[0]["parked"], false);
    assert!(data[0].get("nextAttempt").is_none(), "{page}");
    assert_eq!(data[1]["id"], first.as_str());
    assert_eq!(page["done"], true);

    let (_, without) = app
        .get(&format!("{listing}?with_content=false&limit=1"))
        .await;
    assert_eq!(without["data"][0]["payload"], json!({}));
    assert_eq!(without["done"], false);
    let (_, next) = app
        .get(&format!(
            "{listing}?limit=1&iterator={}",
            without["iterator"].as_str().unwrap()
        ))
        .await;
    assert_eq!(next["data"][0]["id"], first.as_str());
    let (_, eu) = app
        .get(&format!("{listing}?channel=eu&tag=t1&status=0"))
        .await;
    assert_eq!(eu["data"].as_array().unwrap().len(), 1, "{eu}");
    let (_, failed) = app.get(&format!("{listing}?status=2")).await;
    assert_eq!(failed["data"], json!([]));
    let (_, typed) = app
        .get(&format!("{listing}?event_types=invoice.paid"))
        .await;
    assert_eq!(typed["data"][0]["id"], first.as_str());
    assert_eq!(typed["data"].as_array().unwrap().len(), 1);
    let (status, canceled) = app
        .get(&format!("{listing}?status=4&expanded_statuses=true"))
        .await;
    assert_eq!((status, &canceled["data"]), (200, &json!([])));

    // The endpoint that was disabled when they were sent was sent neither.
    let parked_id = parked["id"].as_str().unwrap();
    let (status, none) = app
        .get(&format!("/app/{app_id}/endpoint/{parked_id}/msg"))
        .await;
    assert_eq!((status, &none["data"]), (200, &json!([])), "{none}");
}

#[tokio::test]
async fn an_endpoints_messages_refuse_bad_queries_naming_the_parameter() {
    let app = TestApp::spawn().await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let listing = format!("/app/{app_id}/endpoint/{endpoint_id}/msg");
    for (query, name) in [
        ("status=5", "status"),
        ("status=x", "status"),
        ("limit=0", "limit"),
        ("before=yesterday", "before"),
        ("channel=a%20b", "channel"),
        ("with_content=maybe", "with_content"),
        ("expanded_statuses=perhaps", "expanded_statuses"),
    ] {
        let (status, answer) = app.get(&format!("{listing}?{query}")).await;
        assert_eq!(status, 422, "{query}: {answer}");
        assert_eq!(
            answer["detail"][0]["loc"],
            json!(["query", name]),
            "{query}"
        );
    }
    let (status, answer) = app
        .get(&format!("/app/{app_id}/endpoint/ep_missing/msg"))
        .await;
    assert_eq!((status, &answer["code"]), (404, &json!("not_found")));
}
