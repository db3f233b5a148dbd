//! hookd's per-endpoint delivery options over real HTTP: `maxInFlight`, `ordered` and
//! `retrySchedule` round-trip through create, full update and PATCH; outbound credentials (`auth`)
//! reach the receiver in `Authorization` and never come back in an API response; and the
//! https-only mode refuses plain-http endpoints at the API and at delivery.

use std::time::Duration;

use hookd::app::{self, Dependencies};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp, TestClient, test_config};

const WAIT: Duration = Duration::from_secs(15);

/// The basic-auth example of RFC 7617, so the expected header is known without computing it.
const BASIC_USERNAME: &str = "Aladdin";
const BASIC_PASSWORD: &str = "open sesame";
const BASIC_HEADER: &str = "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==";
const BEARER_TOKEN: &str = "bearer-secret-7f3a";

/// One request, answered with the raw response text: a secret is searched for in exactly what a
/// client would see, not in a re-serialization of it.
async fn raw(
    client: &TestClient,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, String) {
    let mut request = client
        .http
        .request(method, client.url(path))
        .bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request reaches hookd");
    let status = response.status().as_u16();
    (status, response.text().await.expect("response body"))
}

/// Fails if a response shows any part of the outbound credentials.
fn assert_no_secrets(what: &str, text: &str) {
    for secret in [
        BASIC_PASSWORD,
        BASIC_HEADER,
        BEARER_TOKEN,
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ",
    ] {
        assert!(!text.contains(secret), "{what} shows {secret:?}: {text}");
    }
}

async fn create_app(client: &TestClient) -> String {
    let (status, app) = client.post("/app", json!({"name": "options"})).await;
    assert_eq!(status, 201, "{app}");
    app["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn outbound_credentials_are_sent_but_never_shown() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app).await;
    let endpoints_path = format!("/app/{app_id}/endpoint");
    let cases = [
        (
            json!({"type": "basic", "username": BASIC_USERNAME, "password": BASIC_PASSWORD}),
            BASIC_HEADER.to_owned(),
            json!({"type": "basic", "username": BASIC_USERNAME}),
        ),
        (
            json!({"type": "bearer", "token": BEARER_TOKEN}),
            format!("Bearer {BEARER_TOKEN}"),
            json!({"type": "bearer"}),
        ),
    ];
    let mut endpoints = Vec::new();
    for (auth, expected_header, shown) in cases {
        let receiver = Receiver::start(vec![]).await;
        let body = json!({"url": receiver.url, "auth": auth});
        let (status, text) = raw(&app, Method::POST, &endpoints_path, Some(body)).await;
        assert_eq!(status, 201, "{text}");
        assert_no_secrets("create", &text);
        let created: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(created["auth"], shown, "{text}");
        let endpoint_id = created["id"].as_str().unwrap().to_owned();
        endpoints.push((receiver, expected_header, shown, endpoint_id));
    }

    // One message fans out to both endpoints; each gets its own credentials.
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;
    for (receiver, expected_header, _, _) in &endpoints {
        let received = receiver.wait_for(1, WAIT).await;
        assert_eq!(
            received[0].header("authorization"),
            expected_header.as_str()
        );
    }
    app.wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 2)
        .await;

    // Reading the endpoints back, one by one or listed, shows the kind of credentials only.
    for (receiver, _, shown, endpoint_id) in &endpoints {
        let path = format!("{endpoints_path}/{endpoint_id}");
        let (status, text) = raw(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{text}");
        assert_no_secrets("get", &text);
        let endpoint: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&endpoint["auth"], shown, "{text}");

        // A PATCH of another field keeps the credentials, and does not show them either.
        let patch = json!({"description": "patched"});
        let (status, text) = raw(&app, Method::PATCH, &path, Some(patch)).await;
        assert_eq!(status, 200, "{text}");
        assert_no_secrets("patch", &text);
        let endpoint: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(&endpoint["auth"], shown, "{text}");

        // A full update that repeats them answers without them.
        let update = json!({
            "url": receiver.url,
            "auth": {"type": "bearer", "token": BEARER_TOKEN}
        });
        let (status, text) = raw(&app, Method::PUT, &path, Some(update)).await;
        assert_eq!(status, 200, "{text}");
        assert_no_secrets("update", &text);
    }
    for path in [
        endpoints_path.clone(),
        format!("/app/{app_id}/attempt/msg/{msg_id}"),
    ] {
        let (status, text) = raw(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{text}");
        assert_no_secrets(&path, &text);
    }
}

#[tokio::test]
async fn delivery_options_round_trip_through_create_update_and_patch() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app).await;
    let url = "https://hooks.example.com/in";
    let (status, created) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": url, "maxInFlight": 5, "ordered": true, "retrySchedule": "5s, 1m,1h"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/app/{app_id}/endpoint/{}", created["id"].as_str().unwrap());

    // Each step: a request, then what the four options read as afterwards (`null` = absent).
    let steps = [
        (
            Method::GET,
            None,
            json!({"maxInFlight": 5, "ordered": true, "retrySchedule": "5s,1m,1h", "auth": null}),
        ),
        (
            Method::PATCH,
            Some(json!({"ordered": false})),
            json!({"maxInFlight": 5, "ordered": false, "retrySchedule": "5s,1m,1h", "auth": null}),
        ),
        (
            Method::PATCH,
            Some(json!({"maxInFlight": null, "retrySchedule": "", "ordered": true})),
            json!({"maxInFlight": null, "ordered": true, "retrySchedule": "", "auth": null}),
        ),
        (
            Method::PATCH,
            Some(json!({"retrySchedule": null, "ordered": null})),
            json!({"maxInFlight": null, "ordered": false, "retrySchedule": null, "auth": null}),
        ),
        (
            Method::PUT,
            Some(json!({"url": url, "maxInFlight": 7, "auth": {"type": "bearer", "token": "t"}})),
            json!({"maxInFlight": 7, "ordered": false, "retrySchedule": null, "auth": {"type": "bearer"}}),
        ),
        // A full update without the options (as a Svix client sends it) keeps them.
        (
            Method::PUT,
            Some(json!({"url": url})),
            json!({"maxInFlight": 7, "ordered": false, "retrySchedule": null, "auth": {"type": "bearer"}}),
        ),
        // PATCH with null is how they are cleared.
        (
            Method::PATCH,
            Some(json!({"maxInFlight": null, "auth": null})),
            json!({"maxInFlight": null, "ordered": false, "retrySchedule": null, "auth": null}),
        ),
    ];
    for (method, body, expected) in steps {
        let (status, answer) = app.request(method.clone(), &path, body.clone()).await;
        assert_eq!(status, 200, "{method} {body:?}: {answer}");
        let (_, stored) = app.get(&path).await;
        for key in ["maxInFlight", "ordered", "retrySchedule", "auth"] {
            let expected = &expected[key];
            let shown = answer.get(key).unwrap_or(&Value::Null);
            assert_eq!(shown, expected, "{key} after {method} {body:?}: {answer}");
            let stored = stored.get(key).unwrap_or(&Value::Null);
            assert_eq!(stored, expected, "stored {key} after {method} {body:?}");
        }
    }
}

#[tokio::test]
async fn bad_delivery_options_are_refused_with_their_location() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app).await;
    let url = "https://hooks.example.com/in";
    let cases = [
        (json!({"maxInFlight": 0}), json!(["body", "maxInFlight"])),
        (json!({"maxInFlight": 1001}), json!(["body", "maxInFlight"])),
        (json!({"ordered": "yes"}), json!(["body", "ordered"])),
        (
            json!({"retrySchedule": "5s,,1m"}),
            json!(["body", "retrySchedule"]),
        ),
        (
            json!({"auth": {"type": "digest", "token": "t"}}),
            json!(["body", "auth", "type"]),
        ),
        (
            json!({"auth": {"type": "basic", "username": "a:b", "password": "p"}}),
            json!(["body", "auth", "username"]),
        ),
        (
            json!({"auth": {"type": "bearer", "token": "t\r\nX-Injected: 1"}}),
            json!(["body", "auth", "token"]),
        ),
    ];
    for (options, loc) in cases {
        let mut body = json!({"url": url});
        body.as_object_mut()
            .unwrap()
            .extend(options.as_object().unwrap().clone());
        let (status, error) = app.post(&format!("/app/{app_id}/endpoint"), body).await;
        assert_eq!(status, 422, "{options}: {error}");
        assert_eq!(error["detail"][0]["loc"], loc, "{options}: {error}");
    }
    let (_, error) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": url, "retrySchedule": "5s,,1m"}),
        )
        .await;
    assert_eq!(error["detail"][0]["msg"], "retry schedule entry 2 is empty");
    let (_, list) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(list["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn https_only_refuses_plain_http_endpoints() {
    let app = TestApp::spawn_with(|config| config.https_only = true).await;
    let app_id = create_app(&app).await;
    let endpoints_path = format!("/app/{app_id}/endpoint");

    let (status, error) = app
        .post(&endpoints_path, json!({"url": "http://127.0.0.1:9/"}))
        .await;
    assert_eq!(status, 422, "{error}");
    assert_eq!(error["detail"][0]["loc"], json!(["body", "url"]));

    // The scheme is what is refused: the same target over https is fine.
    let (status, created) = app
        .post(&endpoints_path, json!({"url": "https://127.0.0.1:9/"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("{endpoints_path}/{}", created["id"].as_str().unwrap());
    for method in [Method::PUT, Method::PATCH] {
        let body = json!({"url": "http://127.0.0.1:9/"});
        let (status, error) = app.request(method.clone(), &path, Some(body)).await;
        assert_eq!(status, 422, "{method}: {error}");
        assert_eq!(
            error["detail"][0]["loc"],
            json!(["body", "url"]),
            "{method}"
        );
    }
}

/// An endpoint configured while plain http was allowed is refused at delivery once the server
/// runs https-only: the delivery client gets the same policy as the API.
#[tokio::test]
async fn https_only_refuses_plain_http_at_delivery() {
    let receiver = Receiver::start(vec![]).await;
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(data_dir.path());
    config.retry_schedule = "".parse().unwrap();

    let server = app::start(config.clone(), Dependencies::production())
        .await
        .unwrap();
    let client = TestApp::attach(&server);
    let app_id = create_app(&client).await;
    let (status, endpoint) = client
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    server.shutdown().await.unwrap();

    config.https_only = true;
    let server = app::start(config, Dependencies::production())
        .await
        .unwrap();
    let client = TestApp::attach(&server);
    let msg_id = client.send_message(&app_id, json!({"n": 1})).await;
    let attempts = client
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| !attempts.is_empty())
        .await;
    assert_eq!(attempts[0]["failureCode"], "invalid_url", "{attempts:?}");
    assert!(receiver.received().is_empty(), "the receiver saw a request");
    server.shutdown().await.unwrap();
}
