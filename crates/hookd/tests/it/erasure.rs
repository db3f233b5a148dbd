//! Erasure over real HTTP, as Svix's SDK calls it: `bulk-expunge` by id or uid,
//! `expunge-all-contents` as a background task, one attempt's content, and Svix's bulk replay
//! of one endpoint mapped onto hookd's. Payloads are really gone from reads, other messages and
//! applications keep theirs, bad inputs change nothing, and another application's token reaches
//! nothing.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TestApp};

const SETTLE: Duration = Duration::from_secs(10);

async fn new_app(app: &TestApp, uid: &str, receiver: &Receiver) -> String {
    let (status, created) = app.post("/app", json!({"name": uid, "uid": uid})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "uid": "ep"}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    app_id
}

async fn send(app: &TestApp, app_id: &str, body: Value) -> String {
    let (status, message) = app.post(&format!("/app/{app_id}/msg"), body).await;
    assert_eq!(status, 202, "{message}");
    message["id"].as_str().unwrap().to_owned()
}

async fn payload(app: &TestApp, app_id: &str, msg: &str) -> Value {
    let (status, message) = app.get(&format!("/app/{app_id}/msg/{msg}")).await;
    assert_eq!(status, 200, "{message}");
    message["payload"].clone()
}

async fn token_for(app: &TestApp, app_id: &str, read_only: bool) -> String {
    let (status, issued) = app
        .post(
            &format!("/app/{app_id}/token"),
            json!({"name": "t", "readOnly": read_only}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    issued["token"].as_str().unwrap().to_owned()
}

async fn as_token(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Polls a background task until it is no longer running.
async fn finished_task(app: &TestApp, task_id: &str) -> Value {
    let deadline = std::time::Instant::now() + SETTLE;
    loop {
        let (status, task) = app.get(&format!("/background-task/{task_id}")).await;
        assert_eq!(status, 200, "{task}");
        if task["status"] != "running" {
            return task;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "task never ended: {task}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn assert_422_at(status: u16, body: &Value, loc: &[&str]) {
    assert_eq!(status, 422, "{body}");
    let want: Vec<Value> = std::iter::once("body")
        .chain(loc.iter().copied())
        .map(Value::from)
        .collect();
    assert_eq!(body["detail"][0]["loc"], Value::from(want), "{body}");
}

#[tokio::test]
async fn bulk_expunge_removes_the_named_payloads_and_nothing_else() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let shop = new_app(&app, "shop", &receiver).await;
    let other = new_app(&app, "other", &receiver).await;
    let by_id = send(
        &app,
        &shop,
        json!({"eventType": "a.b", "payload": {"n": 1}}),
    )
    .await;
    let by_uid = send(
        &app,
        &shop,
        json!({"eventType": "a.b", "eventId": "order-2", "payload": {"n": 2}}),
    )
    .await;
    let kept = send(
        &app,
        &shop,
        json!({"eventType": "a.b", "payload": {"n": 3}}),
    )
    .await;
    let literal = send(
        &app,
        &shop,
        json!({"eventType": "a.b", "eventId": "bulk-expunge", "payload": {"n": 4}}),
    )
    .await;
    let elsewhere = send(
        &app,
        &other,
        json!({"eventType": "a.b", "payload": {"n": 5}}),
    )
    .await;

    // A message whose uid is the literal segment is still read through it.
    let (status, message) = app.get(&format!("/app/{shop}/msg/bulk-expunge")).await;
    assert_eq!(status, 200, "{message}");
    assert_eq!(message["id"], literal.as_str());
    assert_eq!(message["payload"], json!({"n": 4}));
    let (status, missing) = app
        .get(&format!("/app/{shop}/msg/expunge-all-contents"))
        .await;
    assert_eq!(status, 404, "{missing}");

    let path = format!("/app/{shop}/msg/bulk-expunge");
    let too_many: Vec<String> = (0..501).map(|n| format!("m{n}")).collect();
    for (body, loc) in [
        (json!({}), vec!["ids"]),
        (json!({"ids": []}), vec!["ids"]),
        (json!({"ids": too_many}), vec!["ids"]),
        (json!({"ids": "msg_x"}), vec!["ids"]),
    ] {
        let (status, answer) = app.post(&path, body).await;
        assert_422_at(status, &answer, &loc);
    }
    let (status, _) = app
        .post("/app/app_missing/msg/bulk-expunge", json!({"ids": []}))
        .await;
    assert_eq!(status, 404);
    let other_token = token_for(&app, &other, false).await;
    let (status, _) = as_token(
        &app,
        &other_token,
        Method::POST,
        &path,
        Some(json!({"ids": [by_id]})),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(payload(&app, &shop, &by_id).await, json!({"n": 1}));

    let (status, answer) = app
        .post(
            &path,
            json!({"ids": [by_id, "order-2", "msg_missing", elsewhere, by_id]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"results": {
            by_id.as_str(): "expunged",
            "order-2": "expunged",
            "msg_missing": "not-found",
            elsewhere.as_str(): "not-found",
        }})
    );
    assert_eq!(payload(&app, &shop, &by_id).await, json!({}));
    assert_eq!(payload(&app, &shop, &by_uid).await, json!({}));
    assert_eq!(payload(&app, &shop, &kept).await, json!({"n": 3}));
    assert_eq!(payload(&app, &other, &elsewhere).await, json!({"n": 5}));
    // Listing shows the same: the content is gone from the store, not hidden by one read.
    let (_, listed) = app.get(&format!("/app/{shop}/msg")).await;
    let listed_payload = |id: &str| {
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|message| message["id"] == id)
            .unwrap()["payload"]
            .clone()
    };
    assert_eq!(listed_payload(&by_id), json!({}));
    assert_eq!(listed_payload(&kept), json!({"n": 3}));
}

#[tokio::test]
async fn expunge_all_contents_is_a_task_that_empties_one_application() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let shop = new_app(&app, "shop", &receiver).await;
    let other = new_app(&app, "other", &receiver).await;
    let mut shop_messages = Vec::new();
    for n in 0..7 {
        shop_messages.push(
            send(
                &app,
                &shop,
                json!({"eventType": "a.b", "payload": {"n": n}}),
            )
            .await,
        );
    }
    let elsewhere = send(
        &app,
        &other,
        json!({"eventType": "a.b", "payload": {"keep": true}}),
    )
    .await;
    let path = format!("/app/{shop}/msg/expunge-all-contents");

    let other_token = token_for(&app, &other, false).await;
    let (status, _) = as_token(&app, &other_token, Method::POST, &path, None).await;
    assert_eq!(status, 403);
    let read_only = token_for(&app, &shop, true).await;
    let (status, _) = as_token(&app, &read_only, Method::POST, &path, None).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post("/app/app_missing/msg/expunge-all-contents", json!({}))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        payload(&app, &shop, &shop_messages[0]).await,
        json!({"n": 0})
    );

    let (status, started) = app.request(Method::POST, &path, None).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["task"], "application.purge_content");
    assert!(started["id"].as_str().unwrap().starts_with("qtask_"));
    let task_id = started["id"].as_str().unwrap();
    let task = finished_task(&app, task_id).await;
    assert_eq!(task["status"], "finished", "{task}");
    assert_eq!(task["data"]["messagesPurged"], 7, "{task}");
    for msg in &shop_messages {
        assert_eq!(payload(&app, &shop, msg).await, json!({}));
    }
    assert_eq!(
        payload(&app, &other, &elsewhere).await,
        json!({"keep": true})
    );
    // The application's own token sees its task; another application's does not.
    let shop_token = token_for(&app, &shop, true).await;
    let task_path = format!("/background-task/{task_id}");
    let (status, seen) = as_token(&app, &shop_token, Method::GET, &task_path, None).await;
    assert_eq!(status, 200, "{seen}");
    let (status, _) = as_token(&app, &other_token, Method::GET, &task_path, None).await;
    assert_eq!(status, 403);
    // Listed by its Svix kind.
    let (status, listed) = app
        .get("/background-task?task=application.purge_content")
        .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "{listed}");
}

#[tokio::test]
async fn an_attempts_content_is_expunged_alone() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let shop = new_app(&app, "shop", &receiver).await;
    let other = new_app(&app, "other", &receiver).await;
    let first = send(
        &app,
        &shop,
        json!({"eventType": "a.b", "payload": {"n": 1}}),
    )
    .await;
    let second = send(
        &app,
        &shop,
        json!({"eventType": "a.b", "payload": {"n": 2}}),
    )
    .await;
    let attempts_of = |msg: String| {
        let app = &app;
        let shop = shop.clone();
        async move {
            app.wait_for_attempts(&shop, &msg, SETTLE, |attempts| attempts.len() == 1)
                .await
        }
    };
    let first_attempt = attempts_of(first.clone()).await[0].clone();
    let second_attempt = attempts_of(second.clone()).await[0].clone();
    assert_eq!(first_attempt["response"], "ok");
    let attempt_id = first_attempt["id"].as_str().unwrap();
    let path = format!("/app/{shop}/msg/{first}/attempt/{attempt_id}/content");

    // Refused: another application's token, a read-only token, the wrong message, a
    // missing attempt.
    let other_token = token_for(&app, &other, false).await;
    let (status, _) = as_token(&app, &other_token, Method::DELETE, &path, None).await;
    assert_eq!(status, 403);
    let read_only = token_for(&app, &shop, true).await;
    let (status, _) = as_token(&app, &read_only, Method::DELETE, &path, None).await;
    assert_eq!(status, 403);
    let wrong_message = format!("/app/{shop}/msg/{second}/attempt/{attempt_id}/content");
    let (status, body) = app.request(Method::DELETE, &wrong_message, None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = app
        .request(
            Method::DELETE,
            &format!("/app/{shop}/msg/{first}/attempt/atmpt_missing/content"),
            None,
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let attempt_path = format!("/app/{shop}/msg/{first}/attempt/{attempt_id}");
    let (_, still) = app.get(&attempt_path).await;
    assert_eq!(still["response"], "ok");

    let (status, body) = app.request(Method::DELETE, &path, None).await;
    assert_eq!(status, 204, "{body}");
    let (status, expunged) = app.get(&attempt_path).await;
    assert_eq!(status, 200, "{expunged}");
    assert_eq!(expunged["response"], "");
    assert_eq!(expunged["responseStatusCode"], 200);
    // The message and the other attempt keep their content.
    assert_eq!(payload(&app, &shop, &first).await, json!({"n": 1}));
    let second_id = second_attempt["id"].as_str().unwrap();
    let (_, other_attempt) = app
        .get(&format!("/app/{shop}/msg/{second}/attempt/{second_id}"))
        .await;
    assert_eq!(other_attempt["response"], "ok");
}

#[tokio::test]
async fn svix_bulk_replay_replays_one_endpoint_by_its_filter() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let shop = new_app(&app, "shop", &receiver).await;
    let other = new_app(&app, "other", &receiver).await;
    let since = (chrono::Utc::now() - chrono::Duration::minutes(5)).to_rfc3339();
    let paid = send(
        &app,
        &shop,
        json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
    )
    .await;
    send(
        &app,
        &shop,
        json!({"eventType": "user.created", "payload": {"n": 2}}),
    )
    .await;
    receiver.wait_for(2, SETTLE).await;
    let path = format!("/app/{shop}/endpoint/ep/bulk-replay");

    for (body, loc) in [
        (json!({"since": since, "channel": "eu"}), vec!["channel"]),
        (json!({"since": since, "tag": "vip"}), vec!["tag"]),
        (
            json!({"since": since, "statusCodeClass": 500}),
            vec!["statusCodeClass"],
        ),
        (json!({"since": since, "status": 1}), vec!["status"]),
        (json!({"since": since, "until": since}), vec!["until"]),
        (
            json!({"since": since, "eventTypes": ["bad type"]}),
            vec!["eventTypes", "0"],
        ),
    ] {
        let (status, answer) = app.post(&path, body).await;
        assert_422_at(status, &answer, &loc);
    }
    let (status, _) = app
        .post(
            &format!("/app/{shop}/endpoint/ep_missing/bulk-replay"),
            json!({"since": since}),
        )
        .await;
    assert_eq!(status, 404);
    let other_token = token_for(&app, &other, false).await;
    let (status, _) = as_token(
        &app,
        &other_token,
        Method::POST,
        &path,
        Some(json!({"since": since})),
    )
    .await;
    assert_eq!(status, 403);
    let (_, tasks) = app.get("/background-task").await;
    assert_eq!(tasks["data"], json!([]), "refusals started no task");
    assert_eq!(receiver.received().len(), 2);

    // Only the failed ones: none failed, so nothing is sent.
    let (status, started) = app.post(&path, json!({"since": since, "status": 2})).await;
    assert_eq!(status, 202, "{started}");
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(task["data"]["messagesSent"], 0, "{task}");
    // The successful ones of one event type.
    let (status, started) = app
        .post(
            &path,
            json!({"since": since, "status": 0, "eventTypes": ["invoice.paid"]}),
        )
        .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["task"], "endpoint.bulk-replay");
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(task["data"]["messagesSent"], 1, "{task}");
    let received = receiver.wait_for(3, SETTLE).await;
    assert_eq!(received.len(), 3);
    let replayed: Value = serde_json::from_slice(&received[2].body).unwrap();
    assert_eq!(replayed, json!({"n": 1}));
    // Its attempt recorded, the pair's latest delivery is finished again.
    app.wait_for_attempts(&shop, &paid, SETTLE, |attempts| attempts.len() == 2)
        .await;
    // No status: every finished delivery, successful or failed.
    let (status, started) = app.post(&path, json!({"since": since})).await;
    assert_eq!(status, 202, "{started}");
    let task = finished_task(&app, started["id"].as_str().unwrap()).await;
    assert_eq!(task["data"]["messagesSent"], 2, "{task}");
    assert_eq!(receiver.wait_for(5, SETTLE).await.len(), 5);
}

#[tokio::test]
async fn resend_and_replay_of_an_expunged_message_are_refused_up_front() {
    let receiver = Receiver::start(Vec::new()).await;
    let app = TestApp::spawn().await;
    let shop = new_app(&app, "shop", &receiver).await;
    let msg = send(
        &app,
        &shop,
        json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
    )
    .await;
    receiver.wait_for(1, SETTLE).await;
    let (status, _) = app
        .request(
            Method::DELETE,
            &format!("/app/{shop}/msg/{msg}/content"),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let refused = json!({
        "code": "missing_payload",
        "detail": "Unable to resend message. Payload is missing (expunged or past retention).",
    });
    let (status, answer) = app
        .post(
            &format!("/app/{shop}/msg/{msg}/endpoint/ep/resend"),
            json!({}),
        )
        .await;
    assert_eq!((status, &answer), (400, &refused));
    let (status, answer) = app
        .post(&format!("/app/{shop}/msg/{msg}/replay"), json!({}))
        .await;
    assert_eq!((status, &answer), (400, &refused));

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1, "nothing was queued");
    let (_, attempts) = app.get(&format!("/app/{shop}/attempt/msg/{msg}")).await;
    assert_eq!(attempts["data"].as_array().unwrap().len(), 1, "{attempts}");
}
