//! The custom headers of operational webhook endpoints (Svix
//! `operational_webhook.endpoint.get_headers`/`set_headers`): the rules of an application
//! endpoint's headers, sealed at rest, and sent with every operational event.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TestApp, verify_signature};
use crate::secrets_at_rest::{KEY_A, with_keys};

const WAIT: Duration = Duration::from_secs(20);
const HEADER_VALUE: &str = "operator-header-KNOWN-3c9e1f";

/// The bytes of SQLite's database, WAL and shared-memory files.
fn sqlite_files(app: &TestApp) -> Vec<u8> {
    ["hookd.db", "hookd.db-wal", "hookd.db-shm"]
        .iter()
        .filter_map(|name| std::fs::read(app.data_dir().join(name)).ok())
        .flatten()
        .collect()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

#[tokio::test]
async fn operational_endpoint_headers_are_sealed_shown_and_sent() {
    let app = TestApp::spawn_with(with_keys(Some(KEY_A), None)).await;
    let operator = Receiver::start(vec![]).await;
    let (status, endpoint) = app
        .post(
            "/operational-webhook/endpoint",
            json!({"url": operator.url, "filterTypes": ["endpoint.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap();
    let headers_path = format!("/operational-webhook/endpoint/{id}/headers");
    let (status, empty) = app.get(&headers_path).await;
    assert_eq!(
        (status, empty),
        (200, json!({"headers": {}, "sensitive": []}))
    );

    let (status, body) = app
        .request(
            Method::PUT,
            &headers_path,
            Some(json!({"headers": {"X-Operator": HEADER_VALUE, "Authorization": "Bearer op"}})),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, shown) = app.get(&headers_path).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown,
        json!({"headers": {"X-Operator": HEADER_VALUE}, "sensitive": ["Authorization"]})
    );

    // An operational event carries them, signed as before.
    app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let received = operator.wait_for(1, WAIT).await;
    let (_, secret) = app
        .get(&format!("/operational-webhook/endpoint/{id}/secret"))
        .await;
    verify_signature(&received[0], secret["key"].as_str().unwrap());
    assert_eq!(received[0].header("x-operator"), HEADER_VALUE);
    assert_eq!(received[0].header("authorization"), "Bearer op");
    let event: Value = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(event["type"], "endpoint.created");
    assert!(
        !contains(&sqlite_files(&app), HEADER_VALUE),
        "the header value is sealed at rest"
    );

    // A PUT replaces them all.
    let (status, _) = app
        .request(
            Method::PUT,
            &headers_path,
            Some(json!({"headers": {"x-second": "2"}})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, shown) = app.get(&headers_path).await;
    assert_eq!(
        shown,
        json!({"headers": {"x-second": "2"}, "sensitive": []})
    );
}

#[tokio::test]
async fn operational_headers_follow_the_endpoint_header_rules() {
    let app = TestApp::spawn().await;
    let (status, endpoint) = app
        .post(
            "/operational-webhook/endpoint",
            json!({"url": "http://127.0.0.1:9/ops"}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let id = endpoint["id"].as_str().unwrap();
    let path = format!("/operational-webhook/endpoint/{id}/headers");
    #[rustfmt::skip]
    let refused = [
        (json!({"headers": {"webhook-id": "x"}}), json!(["body", "headers", "webhook-id"])),
        (json!({"headers": {"Svix-Signature": "x"}}), json!(["body", "headers", "Svix-Signature"])),
        (json!({"headers": {"Content-Length": "1"}}), json!(["body", "headers", "Content-Length"])),
        (json!({"headers": {"bad name": "x"}}), json!(["body", "headers", "bad name"])),
        (json!({"headers": {"x-a": 1}}), json!(["body", "headers", "x-a"])),
        (json!({}), json!(["body", "headers"])),
    ];
    for (body, loc) in refused {
        let (status, answer) = app.request(Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{body}: {answer}");
        // The same body aimed at a missing endpoint is answered 404 first.
        let (status, answer) = app
            .request(
                Method::PUT,
                "/operational-webhook/endpoint/ep_missing/headers",
                Some(body.clone()),
            )
            .await;
        assert_eq!(
            (status, &answer["code"]),
            (404, &json!("not_found")),
            "{body}: {answer}"
        );
    }
    let (_, shown) = app.get(&path).await;
    assert_eq!(
        shown,
        json!({"headers": {}, "sensitive": []}),
        "nothing was stored"
    );
    let (status, answer) = app
        .get("/operational-webhook/endpoint/ep_missing/headers")
        .await;
    assert_eq!(
        (status, &answer["code"]),
        (404, &json!("not_found")),
        "{answer}"
    );

    // An application endpoint's id does not reach these routes.
    let (_, app_endpoint) = app.app_with_endpoint("http://127.0.0.1:9/hook").await;
    let (status, _) = app
        .get(&format!(
            "/operational-webhook/endpoint/{app_endpoint}/headers"
        ))
        .await;
    assert_eq!(status, 404);
}
