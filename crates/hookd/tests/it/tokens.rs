//! Application-scoped tokens through the API: issued once and never listed, refused alike
//! when unknown, expired or revoked, revoked with their application; Svix's portal calls
//! (`app-portal-access`, `expire-all` by session, `logout`).

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{TestApp, TestClock};

async fn as_token(app: &TestApp, token: &str, method: Method, path: &str) -> (u16, Value) {
    let response = app
        .http
        .request(method, app.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn new_app(app: &TestApp, uid: &str) -> String {
    let (status, created) = app.post("/app", json!({"name": uid, "uid": uid})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_token_is_shown_once_and_refused_alike_when_unknown_expired_or_revoked() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let app_id = new_app(&app, "shop").await;
    let (status, issued) = app
        .post(
            &format!("/app/{app_id}/token"),
            json!({"name": "ci", "expiry": 60}),
        )
        .await;
    assert_eq!(status, 201, "{issued}");
    let token = issued["token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("appsk_"), "{token}");
    assert_eq!(issued["appId"], app_id.as_str());
    assert_eq!(issued["readOnly"], false);

    let (status, listed) = app.get("/app/shop/token").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert!(
        !listed.to_string().contains(&token),
        "a listing never holds the token"
    );
    assert_eq!(listed["data"][0]["id"], issued["id"]);

    // By uid or by id, the own application answers.
    for path in ["/app/shop", &format!("/app/{app_id}")] {
        let (status, body) = as_token(&app, &token, Method::GET, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let (_, unknown) = as_token(&app, "appsk_nope", Method::GET, "/app/shop").await;
    clock.advance_to(clock.instant() + Duration::from_secs(61));
    let (status, expired) = as_token(&app, &token, Method::GET, "/app/shop").await;
    assert_eq!(status, 401);
    assert_eq!(expired, unknown, "expired answers as unknown");

    let (_, second) = app.post("/app/shop/token", json!({})).await;
    let second_token = second["token"].as_str().unwrap();
    let path = format!("/app/shop/token/{}", second["id"].as_str().unwrap());
    assert_eq!(app.request(Method::DELETE, &path, None).await.0, 204);
    assert_eq!(
        app.request(Method::DELETE, "/app/shop/token/tok_missing", None)
            .await
            .0,
        404
    );
    let (status, revoked) = as_token(&app, second_token, Method::GET, "/app/shop").await;
    assert_eq!(
        (status, &revoked),
        (401, &unknown),
        "revoked answers as unknown"
    );
    assert_eq!(
        unknown,
        json!({"code": "authentication_failed", "detail": "invalid token"})
    );
    let (_, listed) = app.get("/app/shop/token").await;
    assert_eq!(listed["data"][0]["revoked"], true);
}

#[tokio::test]
async fn bad_token_requests_change_nothing() {
    let app = TestApp::spawn().await;
    new_app(&app, "shop").await;
    for body in [
        json!({"expiry": 0}),
        json!({"name": ""}),
        json!({"expiry": u64::MAX}),
    ] {
        let (status, answer) = app.post("/app/shop/token", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"][0], "body", "{answer}");
    }
    let (status, _) = app.post("/app/missing/token", json!({"expiry": 0})).await;
    assert_eq!(status, 404, "404 before 422");
    for body in [json!({"expiry": 60}), json!({"expiry": 604_801})] {
        let (status, answer) = app.post("/auth/app-portal-access/shop", body.clone()).await;
        assert_eq!(status, 422, "{body}: {answer}");
    }
    let (status, _) = app
        .post("/auth/app/shop/expire-all", json!({"expiry": 604_801}))
        .await;
    assert_eq!(status, 422);
    let (_, listed) = app.get("/app/shop/token").await;
    assert_eq!(listed["data"], json!([]), "nothing was issued");
}

#[tokio::test]
async fn portal_access_creates_the_application_inline_and_links_to_the_portal() {
    let app =
        TestApp::spawn_with(|config| config.public_url = Some("https://hooks.example.com/".into()))
            .await;
    let (status, access) = app
        .post(
            "/auth/app-portal-access/tenant-7",
            json!({"application": {"name": "Tenant 7"}, "readOnly": true, "sessionId": "s1",
                   "featureFlags": ["beta"], "capabilities": ["ViewBase"]}),
        )
        .await;
    assert_eq!(status, 200, "{access}");
    let token = access["token"].as_str().unwrap();
    assert_eq!(
        access["url"],
        format!("https://hooks.example.com/portal/login#token={token}")
    );
    let (status, tenant) = as_token(&app, token, Method::GET, "/app/tenant-7").await;
    assert_eq!((status, tenant["name"].as_str()), (200, Some("Tenant 7")));
    let (status, _) = as_token(&app, token, Method::GET, "/app/tenant-7/endpoint").await;
    assert_eq!(status, 200);
    let (status, answer) = as_token(&app, token, Method::POST, "/app/tenant-7/endpoint").await;
    assert_eq!(
        (status, answer["detail"].as_str()),
        (403, Some("the token is read-only"))
    );
    let (_, listed) = app.get("/app/tenant-7/token").await;
    assert_eq!(listed["data"][0]["sessionId"], "s1");
    assert_eq!(listed["data"][0]["readOnly"], true);
    let (status, _) = app.post("/auth/app-portal-access/nobody", json!({})).await;
    assert_eq!(status, 404, "no application and none to create");
}

#[tokio::test]
async fn expire_all_by_session_logout_and_deleting_the_application_end_tokens() {
    let app = TestApp::spawn().await;
    new_app(&app, "shop").await;
    let portal = |session: &'static str| {
        let app = &app;
        async move {
            let (status, access) = app
                .post(
                    "/auth/app-portal-access/shop",
                    json!({"sessionId": session}),
                )
                .await;
            assert_eq!(status, 200, "{access}");
            access["token"].as_str().unwrap().to_owned()
        }
    };
    let (a, b, c) = (portal("a").await, portal("b").await, portal("c").await);
    let works = |token: String| {
        let app = &app;
        async move { as_token(app, &token, Method::GET, "/app/shop").await.0 == 200 }
    };
    let (status, _) = app
        .post("/auth/app/shop/expire-all", json!({"sessionIds": ["a"]}))
        .await;
    assert_eq!(status, 204);
    assert!(!works(a.clone()).await);
    assert!(works(b.clone()).await && works(c.clone()).await);

    let (status, answer) = as_token(&app, &b, Method::POST, "/auth/logout").await;
    assert_eq!(status, 204, "{answer}");
    assert!(!works(b).await);
    assert!(works(c.clone()).await);
    let (status, _) = app.post("/auth/logout", json!({})).await;
    assert_eq!(status, 403, "the admin token cannot be logged out");

    assert_eq!(app.request(Method::DELETE, "/app/shop", None).await.0, 204);
    new_app(&app, "shop").await;
    assert!(!works(c).await, "a token goes with its application");
}

#[tokio::test]
async fn token_lists_are_paged_newest_first() {
    let app = TestApp::spawn().await;
    new_app(&app, "paged").await;
    for _ in 0..3 {
        let (status, _) = app.post("/app/paged/token", json!({})).await;
        assert_eq!(status, 201);
    }
    let (status, first) = app.get("/app/paged/token?limit=2").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 2);
    assert_eq!(first["done"], false);
    let iterator = first["iterator"].as_str().expect("an iterator").to_owned();
    let (_, second) = app
        .get(&format!("/app/paged/token?limit=2&iterator={iterator}"))
        .await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["done"], true);
    let newest = first["data"][0]["id"].as_str().unwrap();
    let oldest = second["data"][0]["id"].as_str().unwrap();
    assert!(newest > oldest, "newest first");
    let (status, _) = app.get("/app/paged/token?limit=0").await;
    assert_eq!(status, 422);
    let (status, _) = app.get("/app/missing/token?limit=0").await;
    assert_eq!(status, 404, "404 before 422");
}
