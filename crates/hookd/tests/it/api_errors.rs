//! Bad input gets a clear JSON error and changes nothing.

use serde_json::{Value, json};

use crate::harness::{TOKEN, TestApp};

async fn message_count(app: &TestApp, app_id: &str) -> usize {
    let (status, list) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().unwrap().len()
}

async fn raw_post(app: &TestApp, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
    let mut request = app
        .http
        .post(app.url(path))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("error bodies are JSON");
    (status, body)
}

#[tokio::test]
async fn requests_without_a_valid_token_are_refused() {
    let app = TestApp::spawn().await;
    for token in [None, Some("wrong-token")] {
        let mut request = app.http.get(app.url("/app"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401);
        let body: Value = response.json().await.unwrap();
        assert!(
            body["code"].is_string() && body["detail"].is_string(),
            "{body}"
        );
    }
    // Health needs no token.
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert!(health.status().is_success());
}

#[tokio::test]
async fn malformed_and_mistyped_bodies_are_rejected_without_effect() {
    let app = TestApp::spawn().await;
    let (_, created) = app.post("/app", json!({"name": "errors"})).await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/app/{app_id}/msg");

    let (status, body) = raw_post(&app, &path, "{not json", None).await;
    assert!(status == 400 || status == 422, "{status} {body}");
    assert!(
        body["detail"].is_string() || body["detail"].is_array(),
        "{body}"
    );

    let (status, body) = raw_post(&app, &path, r#"{"eventType": 5, "payload": {}}"#, None).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(
        body["detail"][0]["loc"],
        json!(["body", "eventType"]),
        "{body}"
    );

    let (status, body) = raw_post(&app, &path, r#"{"payload": {}}"#, None).await;
    assert_eq!(status, 422, "missing eventType: {body}");

    let (status, body) = raw_post(
        &app,
        &path,
        r#"{"eventType": "bad type!", "payload": {}}"#,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");

    assert_eq!(message_count(&app, &app_id).await, 0);
}

#[tokio::test]
async fn unknown_resources_are_404_json() {
    let app = TestApp::spawn().await;
    for path in [
        "/app/app_doesnotexist",
        "/app/app_doesnotexist/endpoint",
        "/app/app_doesnotexist/msg/msg_nope",
        "/event-type/never.defined",
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(body["code"].is_string(), "{path}: {body}");
    }
    let (status, body) = app
        .post(
            "/app/app_doesnotexist/msg",
            json!({"eventType": "a.b", "payload": {}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
}

#[tokio::test]
async fn oversize_payloads_are_refused() {
    let app = TestApp::spawn_with(|config| config.max_body_bytes = 16 * 1024).await;
    let (_, created) = app.post("/app", json!({"name": "big"})).await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let big = "x".repeat(32 * 1024);
    let (status, body) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "a.b", "payload": {"big": big}}),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    assert!(body["code"].is_string(), "{body}");
    assert_eq!(message_count(&app, &app_id).await, 0);
}

#[tokio::test]
async fn invalid_endpoint_urls_are_422() {
    let app = TestApp::spawn().await;
    let (_, created) = app.post("/app", json!({"name": "urls"})).await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    for url in [
        "not a url",
        "ftp://example.com/x",
        "https://",
        "file:///etc/passwd",
    ] {
        let (status, body) = app
            .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "url"]), "{body}");
    }
    let (_, list) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_response() {
    let app = TestApp::spawn().await;
    let (_, created) = app.post("/app", json!({"name": "idem"})).await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/app/{app_id}/msg");
    let body = r#"{"eventType": "a.b", "payload": {"k": 1}}"#;
    let (first_status, first) = raw_post(&app, &path, body, Some("key-1")).await;
    let (second_status, second) = raw_post(&app, &path, body, Some("key-1")).await;
    assert_eq!(first_status, 202, "{first}");
    assert_eq!(second_status, first_status);
    assert_eq!(first["id"], second["id"]);
    assert_eq!(message_count(&app, &app_id).await, 1);

    // The same key with another body is an error, and creates nothing.
    let (status, conflict) = raw_post(
        &app,
        &path,
        r#"{"eventType": "a.b", "payload": {"k": 2}}"#,
        Some("key-1"),
    )
    .await;
    assert!(status == 409 || status == 422, "{status} {conflict}");
    assert_eq!(message_count(&app, &app_id).await, 1);
}

#[tokio::test]
async fn a_failed_request_does_not_hold_its_idempotency_key() {
    let app = TestApp::spawn().await;
    let path = "/app/late-app/msg";
    let body = r#"{"eventType": "a.b", "payload": {}}"#;
    let (status, missing) = raw_post(&app, path, body, Some("key-late")).await;
    assert_eq!(status, 404, "{missing}");
    let (status, created) = app
        .post("/app", json!({"name": "late", "uid": "late-app"}))
        .await;
    assert_eq!(status, 201, "{created}");
    // The same key and body, retried once the app exists: it runs, rather than being told that
    // a request with this key is in progress or replaying the 404.
    let (status, message) = raw_post(&app, path, body, Some("key-late")).await;
    assert_eq!(status, 202, "{message}");
    assert_eq!(message_count(&app, "late-app").await, 1);
}
