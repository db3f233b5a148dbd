//! The payload is the sender's bytes: the JSON text of `payload` is stored, signed, delivered
//! and returned exactly as it was submitted (key order, number spellings, escapes, whitespace),
//! on SQLite and on PostgreSQL; a payload with a duplicate object key is refused with 422.
//!
//! Answers are compared as raw text, never parsed: parsing is exactly what would hide a rewrite.

use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp, TestClient, verify_signature};
use crate::postgres_schema::TestSchema;

const WAIT: Duration = Duration::from_secs(15);

/// A payload no re-serialiser keeps: unsorted and nested keys, integers beyond 64 bits and
/// beyond 2^53, `1.50`, exponents, `-0`, escapes (including `\/` and a surrogate pair), raw
/// non-ASCII text, and whitespace inside the value.
const EXACT_PAYLOAD: &str = concat!(
    r#"{"zebra":1,"apple":{"yak":2, "bee":[1.0,-0,1E+2,2.50e-3]},"#,
    r#""big":123456789012345678901234567890,"orderId":9007199254740993,"price":1.50,"#,
    r#""escapes":"tab\t quote\" slash\/ e\u0301 \u00e9 \ud83d\ude00","#,
    r#""unicode":{"日本":"語 🎉","ß":["ü",{"ø":null}]},"#,
    "\n  \"spaced\" :\t[ true , false ]\r\n}"
);

/// Sends `body` as is (not re-encoded by a JSON library) and returns the status and raw text.
async fn raw_request(
    client: &TestClient,
    method: reqwest::Method,
    path: &str,
    body: Option<&str>,
    idempotency_key: Option<&str>,
) -> (u16, String) {
    let mut request = client
        .http
        .request(method, client.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    if let Some(key) = idempotency_key {
        request = request.header("idempotency-key", key);
    }
    let response = request.send().await.expect("request reaches hookd");
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}

fn message_body(payload: &str) -> String {
    format!(r#"{{"eventType":"order.created","payload":{payload}}}"#)
}

/// How an answer must contain the payload: the exact text, as the value of `payload`.
fn rendered(payload: &str) -> String {
    format!(r#""payload":{payload}"#)
}

fn assert_payload_in(answer: &str, what: &str) {
    assert!(
        answer.contains(&rendered(EXACT_PAYLOAD)),
        "{what} does not carry the payload byte for byte:\n{answer}"
    );
}

/// Every way the payload leaves hookd: the create answer, an idempotent replay of it, the
/// delivered (and signed) body, a manual resend, and every read that can include it.
async fn payload_survives_every_path(app: &TestApp) {
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let body = message_body(EXACT_PAYLOAD);
    let create_path = format!("/app/{app_id}/msg");

    let (status, created) = raw_request(
        app,
        reqwest::Method::POST,
        &create_path,
        Some(&body),
        Some("payload-bytes-1"),
    )
    .await;
    assert_eq!(status, 202, "{created}");
    assert_payload_in(&created, "the create answer");
    let (status, replayed) = raw_request(
        app,
        reqwest::Method::POST,
        &create_path,
        Some(&body),
        Some("payload-bytes-1"),
    )
    .await;
    assert_eq!((status, &replayed), (202, &created), "idempotent replay");
    let msg_id = serde_json::from_str::<Value>(&created).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let delivered = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        String::from_utf8_lossy(&delivered[0].body),
        EXACT_PAYLOAD,
        "the delivered body"
    );
    let secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    verify_signature(&delivered[0], &secret);

    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    let attempt_id = attempts[0]["id"].as_str().unwrap();
    for (path, what) in [
        (format!("/app/{app_id}/msg/{msg_id}"), "GET msg"),
        (format!("/app/{app_id}/msg?with_content=true"), "list msgs"),
        (
            format!("/app/{app_id}/attempt/msg/{msg_id}?with_msg=true"),
            "attempts of the message",
        ),
        (
            format!("/app/{app_id}/attempt/endpoint/{endpoint_id}?with_msg=true"),
            "attempts of the endpoint",
        ),
        (
            format!("/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}?with_msg=true"),
            "one attempt",
        ),
    ] {
        let (status, answer) = raw_request(app, reqwest::Method::GET, &path, None, None).await;
        assert_eq!(status, 200, "{what}: {answer}");
        assert_payload_in(&answer, what);
    }

    let (status, answer) = app
        .post(
            &format!("/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend"),
            json!({}),
        )
        .await;
    assert!((200..300).contains(&status), "resend: {status} {answer}");
    let delivered = receiver.wait_for(2, WAIT).await;
    assert_eq!(
        String::from_utf8_lossy(&delivered[1].body),
        EXACT_PAYLOAD,
        "the resent body"
    );
    verify_signature(&delivered[1], &secret);
}

#[tokio::test]
async fn payload_bytes_survive_every_path_on_sqlite() {
    let app = TestApp::spawn().await;
    payload_survives_every_path(&app).await;
}

#[tokio::test]
async fn postgres_payload_bytes_survive_every_path() {
    let schema = TestSchema::create("postgres_payload_bytes_survive_every_path").await;
    let url = schema.url.clone();
    let app = TestApp::spawn_with(move |config| config.database_url = Some(url)).await;
    payload_survives_every_path(&app).await;
}

#[tokio::test]
async fn payload_with_a_duplicate_key_is_refused_naming_it() {
    let app = TestApp::spawn().await;
    let (status, application) = app.post("/app", json!({"name": "duplicates"})).await;
    assert_eq!(status, 201, "{application}");
    let app_id = application["id"].as_str().unwrap();
    let cases = [
        (r#"{"a":1,"a":2}"#, json!(["body", "payload", "a"]), "a"),
        (
            r#"{"order":{"id":1,"total":5,"id":2}}"#,
            json!(["body", "payload", "order", "id"]),
            "id",
        ),
        (
            r#"{"lines":[{"sku":"x"},{"sku":"y","sku":"z"}]}"#,
            json!(["body", "payload", "lines", "1", "sku"]),
            "sku",
        ),
        // The same key spelled with an escape is still the same key to every parser.
        (
            r#"{"role":"user","\u0072ole":"admin"}"#,
            json!(["body", "payload", "role"]),
            "role",
        ),
    ];
    for (payload, loc, key) in cases {
        let (status, answer) = raw_request(
            &app,
            reqwest::Method::POST,
            &format!("/app/{app_id}/msg"),
            Some(&message_body(payload)),
            None,
        )
        .await;
        assert_eq!(status, 422, "{payload}: {answer}");
        let error: Value = serde_json::from_str(&answer).unwrap();
        assert_eq!(error["detail"][0]["loc"], loc, "{payload}: {answer}");
        assert_eq!(error["detail"][0]["type"], "value_error", "{answer}");
        let msg = error["detail"][0]["msg"].as_str().unwrap();
        assert!(msg.contains(&format!("\"{key}\"")), "{payload}: {msg}");
    }
    let (status, messages) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(status, 200);
    assert_eq!(
        messages["data"],
        json!([]),
        "a refused payload stored nothing"
    );
}
