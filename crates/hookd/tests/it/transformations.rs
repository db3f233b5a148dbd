//! Endpoint transformations end to end: code set through the API (refused there when it cannot
//! run), run before signing, and what hostile functions come to in the attempt's record.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use hookd::app::{self, Dependencies};
use hookd::clock::SystemClock;
use hookd::engine::client::Resolver;
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp, TestClient, test_config, verify_signature};
use crate::inbound::{SOURCES, deliver, source_with_endpoint};

fn transformation_path(app_id: &str, endpoint_id: &str) -> String {
    format!("/app/{app_id}/endpoint/{endpoint_id}/transformation")
}

async fn set_code(app: &TestClient, app_id: &str, endpoint_id: &str, code: &str) {
    let path = transformation_path(app_id, endpoint_id);
    let body = json!({"code": code, "enabled": true});
    let (status, answer) = app.request(Method::PATCH, &path, Some(body)).await;
    assert_eq!(status, 204, "{code}: {answer}");
}

/// The attempts of `msg_id` once there is one and a moment has passed for any retry (the test
/// schedule retries after 200 ms).
async fn settled_attempts(app: &TestClient, app_id: &str, msg_id: &str) -> Vec<Value> {
    app.wait_for_attempts(app_id, msg_id, Duration::from_secs(10), |attempts| {
        !attempts.is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, page) = app
        .get(&format!("/app/{app_id}/attempt/msg/{msg_id}"))
        .await;
    page["data"].as_array().cloned().unwrap()
}

#[tokio::test]
async fn a_transformation_rewrites_payload_url_method_and_headers_and_the_signature_covers_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app
        .app_with_endpoint(&format!("{}/original", receiver.url))
        .await;
    let secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    let code = r#"function handler(webhook) {
        webhook.payload = { amount: webhook.payload.cents / 100, kind: webhook.eventType };
        webhook.url = webhook.url.replace("/original", "") ;
        webhook.method = "PUT";
        webhook.headers["x-tenant"] = "acme";
        return webhook;
    }"#;
    set_code(&app, &app_id, &endpoint_id, code).await;
    let (status, shown) = app.get(&transformation_path(&app_id, &endpoint_id)).await;
    assert_eq!(status, 200);
    assert_eq!(
        (shown["code"].as_str(), shown["enabled"].as_bool()),
        (Some(code), Some(true))
    );
    assert!(shown["updatedAt"].is_string(), "{shown}");

    let msg_id = app.send_message(&app_id, json!({"cents": 1250})).await;
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let request = &received[0];
    assert_eq!(
        std::str::from_utf8(&request.body).unwrap(),
        r#"{"amount":12.5,"kind":"invoice.paid"}"#
    );
    assert_eq!(request.header("x-tenant"), "acme");
    assert_eq!(request.method, Method::PUT);
    assert_eq!(request.path, "/hook");
    verify_signature(request, &secret);
    let attempts = settled_attempts(&app, &app_id, &msg_id).await;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert_eq!(attempts[0]["status"], 0, "{attempts:?}");
    assert_eq!(
        attempts[0]["url"], receiver.url,
        "the record shows where it went"
    );

    // Disabled, the same endpoint gets the stored bytes again, byte for byte.
    let path = transformation_path(&app_id, &endpoint_id);
    let (status, _) = app
        .request(Method::PATCH, &path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(status, 204);
    let (_, shown) = app.get(&path).await;
    assert_eq!(
        (shown["code"].as_str(), shown["enabled"].as_bool()),
        (Some(code), Some(false))
    );
    let raw = r#"{"cents":  1250, "z": 1e2}"#;
    let body = format!(r#"{{"eventType":"invoice.paid","payload":{raw}}}"#);
    let response = reqwest::Client::new()
        .post(app.url(&format!("/app/{app_id}/msg")))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        (&received[1].method, received[1].path.as_str()),
        (&Method::POST, "/hook/original")
    );
    assert_eq!(received[1].body.as_ref(), raw.as_bytes(), "byte for byte");
    assert!(received[1].headers.get("x-tenant").is_none());
}

#[tokio::test]
async fn hostile_functions_fail_the_attempt_once_with_a_readable_reason_or_cancel_it() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    // (the function, the attempt's status, what its `response` says)
    let cases: &[(&str, i64, &str)] = &[
        (
            "function handler(w) { for (;;) {} }",
            2,
            "ran longer than 100 ms",
        ),
        (
            "function handler(w) { const a = []; for (;;) a.push(new ArrayBuffer(1 << 22)); }",
            2,
            "more memory than its limit",
        ),
        (
            "function f(n) { return f(n + 1) + 1; } function handler(w) { return f(0); }",
            2,
            "stack limit",
        ),
        (
            "function handler(w) { throw new Error('bad input'); }",
            2,
            "threw Error: bad input",
        ),
        ("function handler(w) { return null; }", 2, "not null"),
        ("function handler(w) { return 42; }", 2, "not a number"),
        ("function handler(w) { return [w]; }", 2, "not an array"),
        (
            "function handler(w) { w.method = 'DELETE'; return w; }",
            2,
            r#"not "DELETE""#,
        ),
        (
            "function handler(w) { w.method = 'G\\u0000ET'; return w; }",
            2,
            "webhook.method must be",
        ),
        (
            "function handler(w) { w.url = 'file:///etc/passwd'; return w; }",
            2,
            "http or https",
        ),
        (
            "function handler(w) { w.headers['x-a'] = 'v\\r\\nx-injected: 1'; return w; }",
            2,
            "x-a: not a valid HTTP header value",
        ),
        (
            "function handler(w) { w.headers['x-a\\r\\nb'] = 'v'; return w; }",
            2,
            "not a valid HTTP header name",
        ),
        (
            "function handler(w) { w.cancel = true; return w; }",
            0,
            "cancelled by the endpoint's transformation",
        ),
    ];
    for (code, status, says) in cases {
        let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
        set_code(&app, &app_id, &endpoint_id, code).await;
        let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
        let attempts = settled_attempts(&app, &app_id, &msg_id).await;
        assert_eq!(
            attempts.len(),
            1,
            "{code}: given up at once, not retried: {attempts:?}"
        );
        let attempt = &attempts[0];
        assert_eq!(attempt["status"], *status, "{code}: {attempt}");
        let response = attempt["response"].as_str().unwrap();
        assert!(response.contains(says), "{code}: {response}");
        let failure = if *status == 0 {
            Value::Null
        } else {
            json!("transformation_failed")
        };
        assert_eq!(
            attempt.get("failureCode").cloned().unwrap_or(Value::Null),
            failure,
            "{code}"
        );
        assert_eq!(attempt["responseStatusCode"], 0, "{code}");
    }
    assert!(
        receiver.received().is_empty(),
        "no hostile function sent anything"
    );
}

#[tokio::test]
async fn code_that_cannot_run_is_refused_at_patch_time_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let (app_id, endpoint_id) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let path = transformation_path(&app_id, &endpoint_id);
    let (status, empty) = app.get(&path).await;
    assert_eq!(status, 200);
    assert_eq!(
        empty,
        json!({"code": null, "enabled": false, "updatedAt": null})
    );
    let cases = [
        (
            json!({"code": "function handler(w) { return w;"}),
            json!(["body", "code"]),
            "does not compile",
        ),
        (
            json!({"code": "let x = 1;"}),
            json!(["body", "code"]),
            "no function named handler",
        ),
        (
            json!({"code": "while (true) {}"}),
            json!(["body", "code"]),
            "ran longer",
        ),
        (
            json!({"code": "throw new Error('top')"}),
            json!(["body", "code"]),
            "threw Error: top",
        ),
        (
            json!({"code": " ".repeat(64 * 1024 + 1)}),
            json!(["body", "code"]),
            "longer than",
        ),
        (
            json!({"variables": {"a": "b"}}),
            json!(["body", "variables"]),
            "not supported",
        ),
    ];
    for (body, loc, says) in cases {
        let (status, error) = app.request(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {error}");
        assert_eq!(error["detail"][0]["loc"], loc, "{error}");
        assert!(
            error["detail"][0]["msg"].as_str().unwrap().contains(says),
            "{error}"
        );
    }
    let (_, after) = app.get(&path).await;
    assert_eq!(after, empty, "a refused PATCH changed nothing");
    // Missing endpoint: 404, whatever the body.
    let missing = transformation_path(&app_id, "ep_missing");
    let (status, _) = app
        .request(Method::PATCH, &missing, Some(json!({"code": "("})))
        .await;
    assert_eq!(status, 404);
    // `code: null` removes the code.
    set_code(
        &app,
        &app_id,
        &endpoint_id,
        "function handler(w) { return w; }",
    )
    .await;
    let (status, _) = app
        .request(Method::PATCH, &path, Some(json!({"code": null})))
        .await;
    assert_eq!(status, 204);
    let (_, removed) = app.get(&path).await;
    assert_eq!(
        (removed["code"].clone(), removed["enabled"].clone()),
        (Value::Null, json!(true))
    );
}

/// Resolves every name to nothing, so a delivery to the endpoint's own (made-up) host could
/// never leave the machine.
struct NoNames;

impl Resolver for NoNames {
    fn resolve(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such host",
            ))
        })
    }
}

#[tokio::test]
async fn a_rewritten_url_still_passes_the_ssrf_guard() {
    let receiver = Receiver::start(vec![]).await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(data_dir.path());
    config.allow_private_targets = false;
    let deps = Dependencies {
        clock: Arc::new(SystemClock),
        resolver: Arc::new(NoNames),
    };
    let server = app::start(config, deps).await.unwrap();
    let app = TestApp::attach(&server);
    let (app_id, endpoint_id) = app.app_with_endpoint("https://hooks.invalid/in").await;
    let code = format!(
        "function handler(w) {{ w.url = {:?}; return w; }}",
        receiver.url
    );
    set_code(&app, &app_id, &endpoint_id, &code).await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, Duration::from_secs(10), |a| !a.is_empty())
        .await;
    assert_eq!(attempts[0]["failureCode"], "ssrf_blocked", "{attempts:?}");
    assert_eq!(attempts[0]["url"], receiver.url);
    assert!(
        receiver.received().is_empty(),
        "refused before any connection"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn ingest_endpoints_have_the_same_transformation() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (source, url, secret) =
        source_with_endpoint(&app, "generic-webhook", json!({}), &receiver).await;
    let source_id = source["id"].as_str().unwrap();
    let (_, endpoints) = app
        .ingest(
            Method::GET,
            &format!("{SOURCES}/{source_id}/endpoint"),
            None,
        )
        .await;
    let endpoint_id = endpoints["data"][0]["id"].as_str().unwrap();
    let path = format!("{SOURCES}/{source_id}/endpoint/{endpoint_id}/transformation");
    let code = "function handler(w) { w.payload = { wrapped: w.payload }; return w; }";
    let (status, answer) = app
        .ingest(
            Method::PATCH,
            &path,
            Some(json!({"code": code, "enabled": true})),
        )
        .await;
    assert_eq!(status, 204, "{answer}");
    let (status, shown) = app.ingest(Method::GET, &path, None).await;
    assert_eq!((status, shown["code"].as_str()), (200, Some(code)));
    let (status, refused) = app
        .ingest(Method::PATCH, &path, Some(json!({"code": "function ("})))
        .await;
    assert_eq!(status, 422, "{refused}");
    let (status, _) = deliver(&url, &[], br#"{"id": 1}"#).await;
    assert_eq!(status, 200);
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        std::str::from_utf8(&received[0].body).unwrap(),
        r#"{"wrapped":{"id":1}}"#
    );
    verify_signature(&received[0], &secret);
}
