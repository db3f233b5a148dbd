//! The inbound gateway over HTTP: sources and ingest endpoints (Svix Ingest's API), and the
//! ingest URL per provider: accepted and forwarded byte for byte, signed with the ingest
//! endpoint's own secret; tampered, stale, missing and unknown-secret signatures refused with
//! 401 and a reason; rotation secrets accepted; duplicates answered 200 and forwarded once.

use std::time::Duration;

use serde_json::{Value, json};
use webhook_signature::{github, shopify, slack, stripe, twilio};

use crate::harness::{Receiver, TOKEN, TestApp, TestClient, verify_signature};

pub(crate) const SOURCES: &str = "/ingest/api/v1/source";

impl TestClient {
    pub(crate) async fn ingest(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches hookd");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

/// A source of `type_name` with `config`, and an ingest endpoint at `receiver`; returns the
/// source, its ingest URL and the endpoint's signing secret.
pub(crate) async fn source_with_endpoint(
    app: &TestApp,
    type_name: &str,
    config: Value,
    receiver: &Receiver,
) -> (Value, String, String) {
    let (status, source) = app
        .ingest(
            reqwest::Method::POST,
            SOURCES,
            Some(json!({"name": type_name, "type": type_name, "config": config})),
        )
        .await;
    assert_eq!(status, 201, "{source}");
    let id = source["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = app
        .ingest(
            reqwest::Method::POST,
            &format!("{SOURCES}/{id}/endpoint"),
            Some(json!({"url": receiver.url})),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let endpoint_id = endpoint["id"].as_str().unwrap();
    let (status, secret) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{id}/endpoint/{endpoint_id}/secret"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{secret}");
    let url = source["ingestUrl"].as_str().unwrap().to_owned();
    (source, url, secret["key"].as_str().unwrap().to_owned())
}

/// Posts `body` with `headers` to an ingest URL; returns the status and JSON answer.
pub(crate) async fn deliver(url: &str, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(url).body(body.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("the ingest URL answers");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// One provider's signing: the headers a request with `body` carries when signed with
/// `secret` at `timestamp`, and the id the provider dedupes on.
type Signer =
    fn(secret: &str, timestamp: i64, body: &[u8], delivery_id: &str) -> Vec<(&'static str, String)>;

pub(crate) fn sign_stripe(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    _: &str,
) -> Vec<(&'static str, String)> {
    vec![(
        "stripe-signature",
        stripe::sign(secret.as_bytes(), timestamp, body),
    )]
}

fn sign_github(secret: &str, _: i64, body: &[u8], id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("x-hub-signature-256", github::sign(secret.as_bytes(), body)),
        ("x-github-delivery", id.to_owned()),
        ("x-github-event", "push".to_owned()),
    ]
}

fn sign_shopify(secret: &str, _: i64, body: &[u8], id: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "x-shopify-hmac-sha256",
            shopify::sign(secret.as_bytes(), body),
        ),
        ("x-shopify-webhook-id", id.to_owned()),
        ("x-shopify-topic", "orders/create".to_owned()),
    ]
}

fn sign_slack(secret: &str, timestamp: i64, body: &[u8], _: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "x-slack-signature",
            slack::sign(secret.as_bytes(), timestamp, body),
        ),
        ("x-slack-request-timestamp", timestamp.to_string()),
    ]
}

fn sign_standard(
    secret: &str,
    timestamp: i64,
    body: &[u8],
    id: &str,
) -> Vec<(&'static str, String)> {
    let key = webhook_signature::Secret::parse(secret).unwrap();
    vec![
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            webhook_signature::signature_header(&[&key], id, timestamp, body),
        ),
    ]
}

struct Provider {
    type_name: &'static str,
    secrets: [&'static str; 2],
    sign: Signer,
    /// The body for delivery `id` (the provider's id lives in the body for Stripe and Slack).
    body: fn(id: &str) -> String,
    /// Whether a stale timestamp is refused (schemes without a timestamp cannot tell).
    timed: bool,
    event_type: &'static str,
    /// How the forwarded request's `Content-Type` reads.
    forwarded_as: &'static str,
}

/// Twilio signs the URL it called: the one configured on the source.
const TWILIO_URL: &str = "https://hooks.example.com/twilio";

fn sign_twilio(secret: &str, _: i64, body: &[u8], id: &str) -> Vec<(&'static str, String)> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(body).into_owned().collect();
    vec![
        (
            "x-twilio-signature",
            twilio::sign(secret.as_bytes(), TWILIO_URL, &params),
        ),
        ("i-twilio-idempotency-token", id.to_owned()),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ]
}

const PROVIDERS: &[Provider] = &[
    Provider {
        type_name: "stripe",
        secrets: ["whsec_stripe_new", "whsec_stripe_old"],
        sign: sign_stripe,
        body: |id| format!(r#"{{"id":"{id}","type":"invoice.paid","amount": 1.50}}"#),
        timed: true,
        event_type: "invoice.paid",
        forwarded_as: "application/json",
    },
    Provider {
        type_name: "github",
        secrets: ["gh-new", "gh-old"],
        sign: sign_github,
        body: |_| r#"{"ref":"refs/heads/main",  "zen":"x"}"#.to_owned(),
        timed: false,
        event_type: "push",
        forwarded_as: "application/json",
    },
    Provider {
        type_name: "shopify",
        secrets: ["shp-new", "shp-old"],
        sign: sign_shopify,
        body: |_| r#"{"id":1,"total":"9.99"}"#.to_owned(),
        timed: false,
        event_type: "orders.create",
        forwarded_as: "application/json",
    },
    Provider {
        type_name: "slack",
        secrets: ["slack-new", "slack-old"],
        sign: sign_slack,
        body: |id| {
            format!(
                r#"{{"type":"event_callback","event_id":"{id}","event":{{"type":"app_mention"}}}}"#
            )
        },
        timed: true,
        event_type: "app_mention",
        forwarded_as: "application/json",
    },
    Provider {
        type_name: "svix",
        secrets: [
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        ],
        sign: sign_standard,
        body: |_| r#"{"type":"user.created","data":{}}"#.to_owned(),
        timed: true,
        event_type: "user.created",
        forwarded_as: "application/json",
    },
    Provider {
        type_name: "twilio",
        secrets: ["twilio-new-token", "twilio-old-token"],
        sign: sign_twilio,
        body: |id| format!("MessageSid={id}&Body=hello+world&From=%2B15550001"),
        timed: false,
        event_type: "twilio.request",
        forwarded_as: "application/x-www-form-urlencoded",
    },
];

/// The source config of a provider with `secret` and, for rotation, `previous`.
fn provider_config(provider: &Provider, secret: &str, previous: Option<&str>) -> Value {
    let mut config = json!({"secret": secret});
    if let Some(previous) = previous {
        config["secrets"] = json!([previous]);
    }
    if provider.type_name == "twilio" {
        config["publicUrl"] = json!(TWILIO_URL);
    }
    config
}

#[tokio::test]
async fn each_provider_is_verified_deduplicated_and_forwarded_byte_for_byte() {
    let app = TestApp::spawn().await;
    for provider in PROVIDERS {
        let name = provider.type_name;
        let receiver = Receiver::start(vec![]).await;
        let [new, old] = provider.secrets;
        let (_, url, endpoint_secret) = source_with_endpoint(
            &app,
            name,
            provider_config(provider, new, Some(old)),
            &receiver,
        )
        .await;
        let sign = provider.sign;

        // Accepted with the new and the old secret; each forwarded once, byte for byte.
        let first = (provider.body)("evt_1");
        let (status, answer) = deliver(
            &url,
            &sign(new, now(), first.as_bytes(), "evt_1"),
            first.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{name}: {answer}");
        assert_eq!(answer["status"], "accepted", "{name}");
        let second = (provider.body)("evt_2");
        let (status, _) = deliver(
            &url,
            &sign(old, now(), second.as_bytes(), "evt_2"),
            second.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{name}: the rotated-out secret still verifies");

        // A duplicate delivery id: 200, not forwarded again.
        let (status, answer) = deliver(
            &url,
            &sign(new, now(), first.as_bytes(), "evt_1"),
            first.as_bytes(),
        )
        .await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("duplicate")),
            "{name}"
        );

        // Refused: tampered, unknown secret, missing, stale.
        let tampered = format!("{first} ");
        let refused = [
            (
                "tampered",
                sign(new, now(), first.as_bytes(), "evt_3"),
                tampered.clone(),
                "no_matching_signature",
            ),
            (
                "unknown secret",
                sign(
                    if name == "svix" {
                        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                    } else {
                        "other"
                    },
                    now(),
                    first.as_bytes(),
                    "evt_4",
                ),
                first.clone(),
                "no_matching_signature",
            ),
            ("missing", Vec::new(), first.clone(), ""),
        ];
        for (what, headers, body, code) in refused {
            let (status, answer) = deliver(&url, &headers, body.as_bytes()).await;
            assert_eq!(status, 401, "{name} {what}: {answer}");
            if !code.is_empty() {
                assert_eq!(answer["code"], code, "{name} {what}");
            }
            assert!(answer["detail"].is_string(), "{name} {what}");
        }
        if provider.timed {
            let stale = now() - 600;
            let (status, answer) = deliver(
                &url,
                &sign(new, stale, first.as_bytes(), "evt_5"),
                first.as_bytes(),
            )
            .await;
            assert_eq!(
                (status, answer["code"].as_str()),
                (401, Some("timestamp_too_old")),
                "{name}"
            );
        }

        let received = receiver.wait_for(2, Duration::from_secs(10)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let received = if receiver.received().len() > received.len() {
            receiver.received()
        } else {
            received
        };
        assert_eq!(
            received.len(),
            2,
            "{name}: two events forwarded, nothing else"
        );
        let mut bodies: Vec<&[u8]> = received.iter().map(|r| r.body.as_ref()).collect();
        bodies.sort();
        let mut sent = vec![first.as_bytes(), second.as_bytes()];
        sent.sort();
        assert_eq!(
            bodies, sent,
            "{name}: the forwarded bodies are the received bytes"
        );
        for delivery in &received {
            verify_signature(delivery, &endpoint_secret);
            assert_eq!(
                delivery.header("content-type"),
                provider.forwarded_as,
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn the_event_type_comes_from_the_provider() {
    let app = TestApp::spawn().await;
    for provider in PROVIDERS {
        let receiver = Receiver::start(vec![]).await;
        let (source, url, _) = source_with_endpoint(
            &app,
            provider.type_name,
            provider_config(provider, provider.secrets[0], None),
            &receiver,
        )
        .await;
        // A second ingest endpoint that takes only the provider's event type.
        let filtered = Receiver::start(vec![]).await;
        let path = format!("{SOURCES}/{}/endpoint", source["id"].as_str().unwrap());
        let (status, answer) = app
            .ingest(
                reqwest::Method::POST,
                &path,
                Some(json!({"url": filtered.url, "filterTypes": [provider.event_type]})),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        let elsewhere = Receiver::start(vec![]).await;
        let (status, answer) = app
            .ingest(
                reqwest::Method::POST,
                &path,
                Some(json!({"url": elsewhere.url, "filterTypes": ["other.type"]})),
            )
            .await;
        assert_eq!(status, 201, "{answer}");
        let body = (provider.body)("evt_type");
        let (status, answer) = deliver(
            &url,
            &(provider.sign)(provider.secrets[0], now(), body.as_bytes(), "evt_type"),
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 200, "{answer}");
        let app_id = format!("app_{}", source["id"].as_str().unwrap());
        // The source's application is internal: /app does not show it.
        let (status, _) = app
            .get(&format!(
                "/app/{app_id}/msg/{}",
                answer["msgId"].as_str().unwrap()
            ))
            .await;
        assert_eq!(status, 404);
        let received = receiver.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(received[0].body.as_ref(), body.as_bytes());
        let filtered = filtered.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(
            filtered[0].body.as_ref(),
            body.as_bytes(),
            "{}",
            provider.type_name
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            elsewhere.received().is_empty(),
            "{}: event type {}",
            provider.type_name,
            provider.event_type
        );
        assert_eq!(
            received[0].header("webhook-id"),
            answer["msgId"].as_str().unwrap(),
            "{}",
            provider.type_name
        );
    }
    let (status, apps) = app.get("/app").await;
    assert_eq!(status, 200);
    assert_eq!(
        apps["data"],
        json!([]),
        "source applications are hidden from /app"
    );
}

#[tokio::test]
async fn slack_url_verification_is_answered_with_its_challenge() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (_, url, _) = source_with_endpoint(&app, "slack", json!({"secret": "s3"}), &receiver).await;
    let body = br#"{"type":"url_verification","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","token":"x"}"#;
    let (status, answer) = deliver(&url, &sign_slack("s3", now(), body, ""), body).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let (status, _) = deliver(&url, &sign_slack("wrong", now(), body, ""), body).await;
    assert_eq!(status, 401, "an unsigned challenge is not answered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        receiver.received().is_empty(),
        "a challenge is not forwarded"
    );
}

#[tokio::test]
async fn twilio_form_posts_verify_against_the_public_url_and_are_forwarded_as_sent() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let public = "https://hooks.example.com/twilio";
    let (_, url, endpoint_secret) = source_with_endpoint(
        &app,
        "twilio",
        json!({"secret": "auth-token", "publicUrl": public}),
        &receiver,
    )
    .await;
    let params = [("From", "+15550001"), ("Body", "hello world")];
    let body = "From=%2B15550001&Body=hello+world";
    let signed = twilio::sign(b"auth-token", public, &params);
    let form = (
        "content-type",
        "application/x-www-form-urlencoded".to_owned(),
    );
    let (status, answer) = deliver(
        &url,
        &[("x-twilio-signature", signed.clone()), form.clone()],
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    let other = twilio::sign(b"auth-token", &url, &params);
    let (status, answer) = deliver(
        &url,
        &[("x-twilio-signature", other), form],
        body.as_bytes(),
    )
    .await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (401, Some("no_matching_signature")),
        "{answer}"
    );
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        received[0].body.as_ref(),
        body.as_bytes(),
        "the form post, byte for byte"
    );
    assert_eq!(
        received[0].header("content-type"),
        "application/x-www-form-urlencoded"
    );
    verify_signature(&received[0], &endpoint_secret);
}

#[tokio::test]
async fn bad_requests_at_the_ingest_url_never_answer_5xx() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (_, url, _) = source_with_endpoint(
        &app,
        "generic-webhook",
        json!({"maxBodyBytes": 64, "dedupeHeader": "x-delivery"}),
        &receiver,
    )
    .await;
    let (status, answer) = deliver(&url, &[], &[b'{'; 65]).await;
    assert_eq!(status, 413, "{answer}");
    let (status, answer) = deliver(&format!("{url}x"), &[], b"{}").await;
    assert_eq!(status, 404, "{answer}");
    // Not UTF-8: cannot be a payload's text, so it is recorded and refused.
    let (status, answer) = deliver(&url, &[], b"\xff\xfe").await;
    assert_eq!(
        (status, answer["code"].as_str()),
        (415, Some("body_not_utf8")),
        "{answer}"
    );
    // Any text is forwarded as it came, with its content type: not only JSON objects.
    for (body, content_type) in [
        (&b"[1]"[..], "application/json"),
        (b"", "text/plain"),
        (b"{\"a\":1,\"a\":2}", "application/json"),
        (b"not json", "text/plain"),
    ] {
        let (status, answer) = deliver(&url, &[("content-type", content_type.into())], body).await;
        assert_eq!(
            (status, answer["status"].as_str()),
            (200, Some("accepted")),
            "{body:?}: {answer}"
        );
    }
    let received = receiver.wait_for(4, Duration::from_secs(10)).await;
    let mut bodies: Vec<&[u8]> = received.iter().map(|r| r.body.as_ref()).collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [&b""[..], b"[1]", b"not json", b"{\"a\":1,\"a\":2}"]
    );
    let plain = received
        .iter()
        .find(|r| r.body.as_ref() == b"not json")
        .unwrap();
    assert_eq!(plain.header("content-type"), "text/plain");
    // generic-webhook dedupes on the configured header.
    let sent = [("x-delivery", "d-1".to_owned())];
    assert_eq!(deliver(&url, &sent, br#"{"n":1}"#).await.0, 200);
    assert_eq!(
        deliver(&url, &sent, br#"{"n":1}"#).await.1["status"],
        "duplicate"
    );
    assert_eq!(
        deliver(&url, &[], br#"{"n":2}"#).await.1["status"],
        "accepted"
    );
    receiver.wait_for(6, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 6);
}

#[tokio::test]
async fn sources_follow_svix_ingest_and_refuse_bad_input_by_field() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"name": "s", "type": "cron"}),
            json!(["body", "type"]),
        ),
        (
            json!({"name": "s", "type": "stripe"}),
            json!(["body", "config", "secret"]),
        ),
        (
            json!({"name": "s", "type": "stripe", "config": {"secret": "x", "extra": 1}}),
            json!(["body", "config", "extra"]),
        ),
        (
            json!({"name": "s", "type": "svix", "config": {"secret": "not base64!"}}),
            json!(["body", "config", "secret"]),
        ),
        (
            json!({"name": "s", "type": "github", "config": {"secret": "x"}, "uid": "src_x"}),
            json!(["body", "uid"]),
        ),
        (
            json!({"name": "", "type": "github", "config": {"secret": "x"}}),
            json!(["body", "name"]),
        ),
    ];
    for (body, loc) in cases {
        let (status, answer) = app
            .ingest(reqwest::Method::POST, SOURCES, Some(body.clone()))
            .await;
        assert_eq!(status, 422, "{body}: {answer}");
        assert_eq!(answer["detail"][0]["loc"], loc, "{body}");
    }
    let (status, listed) = app.ingest(reqwest::Method::GET, SOURCES, None).await;
    assert_eq!(
        (status, listed["data"].clone()),
        (200, json!([])),
        "nothing was created"
    );

    let create = json!({"name": "Stripe", "uid": "stripe-live", "type": "stripe", "config": {"secret": "whsec_1"}, "metadata": {"team": "billing"}});
    let (status, source) = app
        .ingest(reqwest::Method::POST, SOURCES, Some(create.clone()))
        .await;
    assert_eq!(status, 201, "{source}");
    assert!(source["id"].as_str().unwrap().starts_with("src_"));
    assert_eq!(source["type"], "stripe");
    assert_eq!(source["metadata"], json!({"team": "billing"}));
    assert!(
        source["config"].get("secret").is_none(),
        "secrets are never shown: {source}"
    );
    let ingest_url = source["ingestUrl"].as_str().unwrap().to_owned();
    assert!(
        ingest_url.starts_with(&format!("{}/ingest/in/", app.base)),
        "{ingest_url}"
    );

    let (status, again) = app
        .ingest(reqwest::Method::POST, SOURCES, Some(create))
        .await;
    assert_eq!(status, 409, "{again}");
    let (status, by_uid) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/stripe-live"),
            None,
        )
        .await;
    assert_eq!((status, &by_uid["id"]), (200, &source["id"]));

    // Rotating the token gives a new URL; the old one keeps working for its grace period.
    let (status, rotated) = app
        .ingest(
            reqwest::Method::POST,
            &format!("{SOURCES}/stripe-live/token/rotate"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_url = rotated["ingestUrl"].as_str().unwrap();
    assert_ne!(new_url, ingest_url);
    let body = br#"{"id":"evt_r","type":"x"}"#;
    let signed = sign_stripe("whsec_1", now(), body, "");
    assert_eq!(deliver(new_url, &signed, body).await.0, 200);
    assert_eq!(
        deliver(&ingest_url, &signed, body).await.1["status"],
        "duplicate"
    );

    // PUT updates (keeping the uid) or creates with the path as uid.
    let (status, updated) = app
        .ingest(
            reqwest::Method::PUT,
            &format!("{SOURCES}/stripe-live"),
            Some(json!({"name": "Renamed", "type": "stripe", "config": {"secret": "whsec_2"}})),
        )
        .await;
    assert_eq!(
        (status, updated["name"].as_str(), updated["uid"].as_str()),
        (200, Some("Renamed"), Some("stripe-live"))
    );
    let (status, created) = app
        .ingest(
            reqwest::Method::PUT,
            &format!("{SOURCES}/gh"),
            Some(json!({"name": "GitHub", "type": "github", "config": {"secret": "x"}})),
        )
        .await;
    assert_eq!((status, created["uid"].as_str()), (201, Some("gh")));

    let (status, page) = app
        .ingest(reqwest::Method::GET, &format!("{SOURCES}?limit=1"), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 1);
    assert_eq!(page["done"], false);
    let (_, rest) = app
        .ingest(
            reqwest::Method::GET,
            &format!(
                "{SOURCES}?limit=1&iterator={}",
                page["iterator"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(rest["data"][0]["uid"], "gh");
    assert_eq!(rest["done"], true);

    // Headers of an ingest endpoint.
    let (_, endpoint) = app
        .ingest(
            reqwest::Method::POST,
            &format!("{SOURCES}/gh/endpoint"),
            Some(json!({"url": "http://127.0.0.1:9/x"})),
        )
        .await;
    let headers_path = format!(
        "{SOURCES}/gh/endpoint/{}/headers",
        endpoint["id"].as_str().unwrap()
    );
    let (status, _) = app
        .ingest(
            reqwest::Method::PUT,
            &headers_path,
            Some(json!({"headers": {"x-team": "a"}})),
        )
        .await;
    assert_eq!(status, 204);
    let (_, headers) = app.ingest(reqwest::Method::GET, &headers_path, None).await;
    assert_eq!(headers["headers"], json!({"x-team": "a"}));

    // Deleting the source removes its URL, its endpoints and its application.
    let (status, _) = app
        .ingest(reqwest::Method::DELETE, &format!("{SOURCES}/gh"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/gh/endpoint"),
            None,
        )
        .await;
    assert_eq!(status, 404);

    // The management API needs the admin token; the ingest URL does not.
    let response = reqwest::get(format!("{}{SOURCES}", app.base))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn received_requests_are_listed_with_their_verdict_and_an_accepted_one_replays() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (source, url, _) =
        source_with_endpoint(&app, "stripe", json!({"secret": "whsec_list"}), &receiver).await;
    let id = source["id"].as_str().unwrap();
    let body = br#"{"id":"evt_l","type":"charge.succeeded"}"#;
    let signed = sign_stripe("whsec_list", now(), body, "");
    assert_eq!(deliver(&url, &signed, body).await.0, 200);
    assert_eq!(deliver(&url, &signed, body).await.0, 200);
    assert_eq!(
        deliver(&url, &sign_stripe("wrong", now(), body, ""), body)
            .await
            .0,
        401
    );
    assert_eq!(deliver(&url, &[], b"\xff\x00").await.0, 401);
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let (status, page) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{id}/request"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let items = page["data"].as_array().unwrap();
    let verdicts: Vec<_> = items
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["rejected", "rejected", "duplicate", "accepted"],
        "newest first"
    );
    assert_eq!(items[1]["reason"], "no_matching_signature");
    assert_eq!(items[0]["reason"], "missing_signature");
    assert_eq!(items[0]["bodyBase64"], "/wA=");
    assert_eq!(items[3]["body"], std::str::from_utf8(body).unwrap());
    let signature = items[3]["headers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "stripe-signature")
        .unwrap();
    assert_eq!(signature[1], "[redacted]");
    assert_eq!(items[2]["msgId"], items[3]["msgId"]);

    let accepted = items[3]["id"].as_str().unwrap();
    let (status, one) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{id}/request/{accepted}"),
            None,
        )
        .await;
    assert_eq!((status, &one["id"]), (200, &items[3]["id"]));
    let (status, answer) = app
        .ingest(
            reqwest::Method::POST,
            &format!("{SOURCES}/{id}/request/{accepted}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 202, "{answer}");
    let replayed = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(
        replayed[1].body.as_ref(),
        body.as_slice(),
        "the replay sends the same bytes"
    );
    let rejected = items[1]["id"].as_str().unwrap();
    let (status, answer) = app
        .ingest(
            reqwest::Method::POST,
            &format!("{SOURCES}/{id}/request/{rejected}/replay"),
            None,
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    let (status, _) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{id}/request/inreq_nope"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

/// Random bodies and headers (random bytes, truncated and corrupted signatures, huge and
/// negative timestamps) at every source type: each answer is a 2xx or 4xx with a JSON body.
#[tokio::test]
async fn random_requests_at_every_source_type_never_answer_5xx() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let mut urls = Vec::new();
    for (type_name, secret) in [
        ("stripe", "whsec_f"),
        ("github", "f"),
        ("shopify", "f"),
        ("slack", "f"),
        ("twilio", "f"),
        ("svix", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
        ("generic-webhook", ""),
    ] {
        let config = if secret.is_empty() {
            json!({})
        } else {
            json!({"secret": secret})
        };
        let (_, url, _) = source_with_endpoint(&app, type_name, config, &receiver).await;
        urls.push(url);
    }
    let header_names = [
        "stripe-signature",
        "x-hub-signature-256",
        "x-shopify-hmac-sha256",
        "x-slack-signature",
        "x-slack-request-timestamp",
        "x-twilio-signature",
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "svix-signature",
        "x-github-delivery",
        "content-type",
    ];
    let values = [
        "",
        "t=",
        "t=1,v1=",
        "t=99999999999999999999,v1=zz",
        "v0=",
        "v0=abc",
        "sha256=",
        "sha256=00",
        "v1,",
        "v1,!!!",
        "v1a,AAAA v1,AAAA",
        "-1",
        "18446744073709551616",
        "===",
        "a,b,c,,,",
    ];
    for round in 0..300 {
        let url = &urls[round % urls.len()];
        let mut body = vec![0u8; usize::from(rand::random::<u8>())];
        rand::fill(&mut body[..]);
        if round % 3 == 0 {
            body = br#"{"type":"url_verification","challenge":"c","id":"evt","event_id":"e"}"#
                .to_vec();
        }
        let headers: Vec<(&str, String)> = header_names
            .iter()
            .filter(|_| rand::random::<bool>())
            .map(|name| {
                (
                    *name,
                    values[usize::from(rand::random::<u8>()) % values.len()].to_owned(),
                )
            })
            .collect();
        let (status, answer) = deliver(url, &headers, &body).await;
        assert!(
            (200..500).contains(&status),
            "{status} for {headers:?} {body:?}: {answer}"
        );
        assert!(answer.is_object(), "{status}: a JSON answer");
    }
}

/// Anyone with a source's URL can send rejected requests as fast as they like; each source
/// records only its budget of them a minute, and answers the rest alike without storing them.
#[tokio::test]
async fn rejected_requests_past_the_sources_budget_are_answered_but_not_stored() {
    let app = TestApp::spawn_with(|config| config.inbound_rejected_log_per_minute = 3).await;
    let receiver = Receiver::start(vec![]).await;
    let (source, url, _) =
        source_with_endpoint(&app, "stripe", json!({"secret": "whsec_budget"}), &receiver).await;
    let id = source["id"].as_str().unwrap();
    let body = br#"{"id":"evt_b","type":"charge.succeeded"}"#;
    for _ in 0..10 {
        let forged = sign_stripe("whsec_forged", now(), body, "");
        assert_eq!(deliver(&url, &forged, body).await.0, 401);
    }
    // A provider's request is never limited by the rejections before it.
    let signed = sign_stripe("whsec_budget", now(), body, "");
    assert_eq!(deliver(&url, &signed, body).await.0, 200);
    receiver.wait_for(1, Duration::from_secs(10)).await;

    let (status, page) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{id}/request?limit=50"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let verdicts: Vec<_> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["accepted", "rejected", "rejected", "rejected"]);
    let metrics = app
        .http
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics
            .lines()
            .any(|line| line == "hookd_inbound_rejections_unlogged_total 7"),
        "{metrics}"
    );
}
