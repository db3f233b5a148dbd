//! Ids, names and numbers that the API refuses: each gets a 422 naming the field, and changes
//! nothing. Listings of applications page correctly around the hidden internal application.

use serde_json::{Value, json};

use crate::harness::TestApp;

/// Asserts a 422 whose location ends with `field`.
fn assert_refused(status: u16, body: &Value, field: &str, what: &str) {
    assert_eq!(status, 422, "{what}: {body}");
    let location = &body["detail"][0]["loc"];
    let last = location.as_array().and_then(|loc| loc.last()).cloned();
    assert_eq!(last, Some(json!(field)), "{what}: {body}");
}

async fn count(app: &TestApp, path: &str) -> usize {
    let (status, list) = app.get(path).await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().unwrap().len()
}

#[tokio::test]
async fn ids_that_a_url_would_normalise_are_refused_for_every_resource() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post("/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    assert_eq!(status, 201, "{created}");
    for uid in [".", ".."] {
        let (status, body) = app.post("/app", json!({"name": "x", "uid": uid})).await;
        assert_refused(status, &body, "uid", "application uid");
        let (status, body) = app
            .post(
                "/app/acme/endpoint",
                json!({"url": "http://127.0.0.1:9/hook", "uid": uid}),
            )
            .await;
        assert_refused(status, &body, "uid", "endpoint uid");
        let (status, body) = app
            .post("/event-type", json!({"name": uid, "description": "x"}))
            .await;
        assert_refused(status, &body, "name", "event type name");
        let (status, body) = app
            .post(
                "/app/acme/msg",
                json!({"eventType": "a.b", "payload": {}, "eventId": uid}),
            )
            .await;
        assert_refused(status, &body, "eventId", "message eventId");
        // PATCH may not rename into one either.
        let (status, body) = app
            .request(
                reqwest::Method::PATCH,
                "/app/acme",
                Some(json!({"uid": uid})),
            )
            .await;
        assert_refused(status, &body, "uid", "application uid patch");
    }
    // The eventId addresses a message in a URL too, so it follows the uid rules (as in Svix).
    let (status, body) = app
        .post(
            "/app/acme/msg",
            json!({"eventType": "a.b", "payload": {}, "eventId": "a/../b"}),
        )
        .await;
    assert_refused(status, &body, "eventId", "eventId with a slash");
    assert_eq!(count(&app, "/app").await, 1);
    assert_eq!(count(&app, "/app/acme/endpoint").await, 0);
    assert_eq!(count(&app, "/app/acme/msg").await, 0);
    assert_eq!(count(&app, "/event-type").await, 0);
    let (status, acme) = app.get("/app/acme").await;
    assert_eq!((status, &acme["uid"]), (200, &json!("acme")));
}

#[tokio::test]
async fn oversized_and_hostile_text_is_refused_with_its_field() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post("/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let huge = "x".repeat(900 * 1024);
    let hostile_names = [
        huge.as_str(),
        "Acme\r\nX-Injected: yes",
        "bell\u{0007}",
        "evil\u{202E}gnp.exe",
        "",
        "   ",
    ];
    for name in hostile_names {
        let what = format!("app name {:?}", name.chars().take(20).collect::<String>());
        let (status, body) = app.post("/app", json!({"name": name})).await;
        assert_refused(status, &body, "name", &what);
        let (status, body) = app
            .request(
                reqwest::Method::PATCH,
                "/app/acme",
                Some(json!({"name": name})),
            )
            .await;
        assert_refused(status, &body, "name", &what);
    }
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "/app",
            json!({"name": "ok", "metadata": {"plan\nx": "pro"}}),
            "plan\nx",
        ),
        (
            "/app",
            json!({"name": "ok", "metadata": {"plan": huge}}),
            "plan",
        ),
        (
            "/app/acme/endpoint",
            json!({"url": "http://127.0.0.1:9/", "description": huge}),
            "description",
        ),
        (
            "/app/acme/endpoint",
            json!({"url": "http://127.0.0.1:9/", "description": "a\u{202E}b"}),
            "description",
        ),
        (
            "/app/acme/endpoint",
            json!({"url": "http://127.0.0.1:9/", "metadata": {"k": "v\r\n"}}),
            "k",
        ),
        (
            "/app/acme/endpoint",
            json!({"url": "http://127.0.0.1:9/", "channels": ["ok", "bad\nchannel"]}),
            "1",
        ),
        (
            "/event-type",
            json!({"name": "a.b", "description": huge}),
            "description",
        ),
        (
            "/event-type",
            json!({"name": "a.b", "description": "x", "groupName": "g\u{0001}"}),
            "groupName",
        ),
        (
            "/app/acme/msg",
            json!({"eventType": "a.b", "payload": {}, "tags": ["ok", "t\u{2066}"]}),
            "1",
        ),
    ];
    for (path, body, field) in cases {
        let (status, answer) = app.post(path, body.clone()).await;
        assert_refused(status, &answer, field, path);
    }
    // A multi-line description is fine; so is non-ASCII text.
    let (status, endpoint) = app
        .post(
            "/app/acme/endpoint",
            json!({"url": "http://127.0.0.1:9/", "description": "first line\nsecond\tline",
                   "metadata": {"région": "Île-de-France"}}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    assert_eq!(count(&app, "/app").await, 1);
    assert_eq!(count(&app, "/app/acme/endpoint").await, 1);
    assert_eq!(count(&app, "/app/acme/msg").await, 0);
    assert_eq!(count(&app, "/event-type").await, 0);
}

#[tokio::test]
async fn a_zero_throttle_rate_is_refused() {
    let app = TestApp::spawn().await;
    for field in ["throttleRate", "rateLimit"] {
        let (status, body) = app.post("/app", json!({"name": "x", field: 0})).await;
        assert_refused(status, &body, "throttleRate", field);
    }
    let (status, created) = app
        .post(
            "/app",
            json!({"name": "Acme", "uid": "acme", "throttleRate": 5}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, body) = app
        .request(
            reqwest::Method::PATCH,
            "/app/acme",
            Some(json!({"throttleRate": 0})),
        )
        .await;
    assert_refused(status, &body, "throttleRate", "app patch");
    let (status, body) = app
        .post(
            "/app/acme/endpoint",
            json!({"url": "http://127.0.0.1:9/", "throttleRate": 0}),
        )
        .await;
    assert_refused(status, &body, "throttleRate", "endpoint create");
    let (status, endpoint) = app
        .post("/app/acme/endpoint", json!({"url": "http://127.0.0.1:9/"}))
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let endpoint_path = format!("/app/acme/endpoint/{}", endpoint["id"].as_str().unwrap());
    let (status, body) = app
        .request(
            reqwest::Method::PATCH,
            &endpoint_path,
            Some(json!({"rateLimit": 0})),
        )
        .await;
    assert_refused(status, &body, "throttleRate", "endpoint patch");
    let (_, acme) = app.get("/app/acme").await;
    assert_eq!(acme["throttleRate"], 5, "unchanged: {acme}");
}

#[tokio::test]
async fn a_deliver_at_beyond_payload_retention_is_refused() {
    let app = TestApp::spawn().await;
    let (status, created) = app
        .post("/app", json!({"name": "Acme", "uid": "acme"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let now = chrono::Utc::now();
    let too_late = [
        "+262142-01-01T00:00:00Z".to_owned(),
        (now + chrono::Duration::days(31)).to_rfc3339(),
    ];
    for deliver_at in &too_late {
        let (status, body) = app
            .post(
                "/app/acme/msg",
                json!({"eventType": "a.b", "payload": {}, "deliverAt": deliver_at}),
            )
            .await;
        assert_refused(status, &body, "deliverAt", deliver_at);
    }
    // Inline application creation is not done for a refused message.
    let (status, body) = app
        .post(
            "/app/newco/msg",
            json!({"eventType": "a.b", "payload": {}, "deliverAt": &too_late[1],
                   "application": {"name": "NewCo"}}),
        )
        .await;
    assert_refused(status, &body, "deliverAt", "inline app");
    assert_eq!(app.get("/app/newco").await.0, 404);
    assert_eq!(count(&app, "/app/acme/msg").await, 0);
    let tomorrow = (now + chrono::Duration::days(1)).to_rfc3339();
    let (status, message) = app
        .post(
            "/app/acme/msg",
            json!({"eventType": "a.b", "payload": {}, "deliverAt": tomorrow}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
}

#[tokio::test]
async fn application_pages_end_with_done_and_never_name_the_internal_application() {
    let app = TestApp::spawn().await;
    let (status, empty) = app.get("/app").await;
    assert_eq!(status, 200);
    assert_eq!(empty["data"], json!([]), "{empty}");
    assert!(empty["iterator"].is_null(), "{empty}");
    assert_eq!(empty["done"], true, "{empty}");

    for name in ["A", "B", "C"] {
        let (status, created) = app.post("/app", json!({"name": name})).await;
        assert_eq!(status, 201, "{created}");
    }
    let (_, first) = app.get("/app?limit=2").await;
    assert_eq!(first["data"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["done"], false, "{first}");
    let iterator = first["iterator"].as_str().unwrap().to_owned();
    let (_, last) = app.get(&format!("/app?limit=2&iterator={iterator}")).await;
    let names: Vec<&str> = last["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["C"], "{last}");
    assert_eq!(last["done"], true, "the last page is done: {last}");
}

#[tokio::test]
async fn exclude_apps_with_no_endpoints_lists_only_applications_with_one() {
    let app = TestApp::spawn().await;
    for uid in ["empty-1", "served", "empty-2"] {
        let (status, created) = app.post("/app", json!({"name": uid, "uid": uid})).await;
        assert_eq!(status, 201, "{created}");
    }
    let (status, endpoint) = app
        .post(
            "/app/served/endpoint",
            json!({"url": "http://127.0.0.1:9/"}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let (status, list) = app.get("/app?exclude_apps_with_no_endpoints=true").await;
    assert_eq!(status, 200, "{list}");
    let uids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|app| app["uid"].as_str().unwrap())
        .collect();
    assert_eq!(uids, ["served"], "{list}");
    assert_eq!(list["done"], true);
    assert_eq!(
        count(&app, "/app?exclude_apps_with_no_endpoints=false").await,
        3
    );
    let (status, body) = app.get("/app?exclude_apps_with_no_endpoints=maybe").await;
    assert_eq!(status, 422, "{body}");
}
