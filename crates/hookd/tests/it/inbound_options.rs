//! The inbound gateway's per-source options over HTTP: a `generic-webhook` source's HMAC, HTTP
//! basic and static-token checks (accepted, refused with 401 and a reason code, rotated),
//! `forwardToApp` (an accepted request also becomes a message of a user application, and
//! still reaches the ingest endpoints once that application is gone), and `forwardHeaders`
//! (the listed original headers arrive, others and hookd's own signature headers do not).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use webhook_signature::SharedSecrets;
use webhook_signature::generic::{HmacAlgorithm, HmacConfig, SignedContent, TagEncoding};

use crate::harness::{Receiver, TestApp, verify_signature};
use crate::inbound::{SOURCES, deliver, now, source_with_endpoint};

/// A sender's HMAC configuration, to sign with (`HmacConfig::sign`); the key given here is
/// only a placeholder, since `sign` takes the secret.
fn signer(
    header: &str,
    algorithm: HmacAlgorithm,
    encoding: TagEncoding,
    prefix: Option<&str>,
    timestamp_header: Option<&str>,
) -> HmacConfig {
    let signed = match timestamp_header {
        None => SignedContent::Body,
        Some(header) => SignedContent::timestamp_and_body(header, 300).unwrap(),
    };
    HmacConfig::new(
        header,
        algorithm,
        encoding,
        prefix,
        signed,
        SharedSecrets::new(["placeholder"]).unwrap(),
    )
    .unwrap()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

/// Why, the headers, the body, and the expected status and `status` or `code` of the answer.
type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a [u8], u16, &'a str);

/// Posts each case to `url` and checks the status and the answer's `status` or `code`.
async fn check(url: &str, cases: &[Case<'_>]) {
    for (why, headers, body, status, outcome) in cases {
        let (got, answer) = deliver(url, headers, body).await;
        let said = answer["status"]
            .as_str()
            .or(answer["code"].as_str())
            .unwrap_or_default();
        assert_eq!((got, said), (*status, *outcome), "{why}: {answer}");
    }
}

#[tokio::test]
async fn generic_webhook_sources_check_a_configured_hmac() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    // The body alone, SHA-256, hex, with a prefix; the new and the old secret during rotation.
    let (source, url, endpoint_secret) = source_with_endpoint(
        &app,
        "generic-webhook",
        json!({
            "hmac": {"header": "X-Signature", "algorithm": "sha256", "encoding": "hex", "prefix": "sha256="},
            "secrets": ["new-key", "old-key"],
        }),
        &receiver,
    )
    .await;
    assert_eq!(
        source["config"]["hmac"],
        json!({"header": "X-Signature", "algorithm": "sha256", "encoding": "hex",
               "prefix": "sha256=", "toleranceSecs": 300})
    );
    assert!(
        !source.to_string().contains("new-key"),
        "secrets are never shown back: {source}"
    );
    let body = br#"{"event":"build.done"}"#;
    let hex = signer(
        "X-Signature",
        HmacAlgorithm::Sha256,
        TagEncoding::Hex,
        Some("sha256="),
        None,
    );
    let sign = |secret: &str| hex.sign(secret.as_bytes(), 0, body);
    let unprefixed = sign("new-key").trim_start_matches("sha256=").to_owned();
    check(
        &url,
        &[
            (
                "current secret",
                vec![("x-signature", sign("new-key"))],
                body,
                200,
                "accepted",
            ),
            (
                "rotated-out secret",
                vec![("x-signature", sign("old-key"))],
                body,
                200,
                "accepted",
            ),
            (
                "unknown secret",
                vec![("x-signature", sign("other"))],
                body,
                401,
                "no_matching_signature",
            ),
            (
                "tampered body",
                vec![("x-signature", sign("new-key"))],
                b"{}",
                401,
                "no_matching_signature",
            ),
            ("missing", vec![], body, 401, "missing_signature"),
            (
                "no prefix",
                vec![("x-signature", unprefixed)],
                body,
                401,
                "malformed_signature",
            ),
        ],
    )
    .await;
    let received = receiver.wait_for(2, Duration::from_secs(10)).await;
    assert_eq!(received[0].body.as_ref(), body);
    verify_signature(&received[0], &endpoint_secret);

    // `{timestamp}.{body}`, SHA-512, base64: a stale timestamp is refused.
    let (_, url, _) = source_with_endpoint(
        &app,
        "generic-webhook",
        json!({
            "hmac": {"header": "X-Sig", "algorithm": "sha512", "encoding": "base64",
                     "timestampHeader": "X-Timestamp", "toleranceSecs": 60},
            "secret": "ts-key",
        }),
        &receiver,
    )
    .await;
    let base64 = signer(
        "X-Sig",
        HmacAlgorithm::Sha512,
        TagEncoding::Base64,
        None,
        Some("X-Timestamp"),
    );
    let signed_at = |at: i64| {
        vec![
            ("x-sig", base64.sign(b"ts-key", at, body)),
            ("x-timestamp", at.to_string()),
        ]
    };
    let mut wrong_time = signed_at(now());
    wrong_time[1].1 = (now() - 1).to_string();
    check(
        &url,
        &[
            ("fresh", signed_at(now()), body, 200, "accepted"),
            (
                "stale",
                signed_at(now() - 120),
                body,
                401,
                "timestamp_too_old",
            ),
            (
                "timestamp not the signed one",
                wrong_time,
                body,
                401,
                "no_matching_signature",
            ),
            (
                "no timestamp",
                vec![signed_at(now()).remove(0)],
                body,
                401,
                "missing_timestamp",
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn generic_webhook_sources_check_basic_auth_or_a_static_token() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (source, url, _) = source_with_endpoint(
        &app,
        "generic-webhook",
        json!({"basicAuth": [
            {"username": "hooks", "password": "new-pass"},
            {"username": "hooks", "password": "old-pass"},
        ]}),
        &receiver,
    )
    .await;
    assert_eq!(
        source["config"]["basicAuth"],
        json!([{"username": "hooks"}, {"username": "hooks"}]),
        "usernames only, never a password"
    );
    let body = b"{}";
    check(
        &url,
        &[
            (
                "current",
                vec![("authorization", basic("hooks", "new-pass"))],
                body,
                200,
                "accepted",
            ),
            (
                "rotated out",
                vec![("authorization", basic("hooks", "old-pass"))],
                body,
                200,
                "accepted",
            ),
            (
                "wrong",
                vec![("authorization", basic("hooks", "guess"))],
                body,
                401,
                "wrong_credentials",
            ),
            (
                "not basic",
                vec![("authorization", "Bearer x".into())],
                body,
                401,
                "malformed_credentials",
            ),
            ("missing", vec![], body, 401, "missing_credentials"),
        ],
    )
    .await;

    let (source, url, _) = source_with_endpoint(
        &app,
        "generic-webhook",
        json!({"tokenHeader": "X-Api-Key", "secrets": ["tok-new", "tok-old"]}),
        &receiver,
    )
    .await;
    assert_eq!(source["config"]["tokenHeader"], "X-Api-Key");
    assert!(!source.to_string().contains("tok-new"), "{source}");
    check(
        &url,
        &[
            (
                "current",
                vec![("x-api-key", "tok-new".into())],
                body,
                200,
                "accepted",
            ),
            (
                "rotated out",
                vec![("x-api-key", "tok-old".into())],
                body,
                200,
                "accepted",
            ),
            (
                "wrong",
                vec![("x-api-key", "tok-new2".into())],
                body,
                401,
                "wrong_credentials",
            ),
            ("missing", vec![], body, 401, "missing_credentials"),
        ],
    )
    .await;
    receiver.wait_for(4, Duration::from_secs(10)).await;
}

#[tokio::test]
async fn a_generic_webhook_config_that_cannot_work_is_refused_by_field() {
    let app = TestApp::spawn().await;
    let hmac = |extra: Value| {
        let mut hmac = json!({"header": "X-Sig"});
        hmac.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"hmac": hmac, "secret": "k"})
    };
    let cases = [
        (json!({"hmac": {"header": "X-Sig"}}), "secret"),
        (json!({"secret": "k"}), "secret"),
        (json!({"hmac": {}, "secret": "k"}), "hmac.header"),
        (hmac(json!({"header": "bad header"})), "hmac.header"),
        (hmac(json!({"algorithm": "md5"})), "hmac.algorithm"),
        (hmac(json!({"encoding": "base32"})), "hmac.encoding"),
        (hmac(json!({"prefix": ""})), "hmac.prefix"),
        (hmac(json!({"toleranceSecs": 60})), "hmac.toleranceSecs"),
        (
            hmac(json!({"timestampHeader": "X-T", "toleranceSecs": -1})),
            "hmac.toleranceSecs",
        ),
        (hmac(json!({"nope": 1})), "hmac.nope"),
        (json!({"basicAuth": []}), "basicAuth"),
        (
            json!({"basicAuth": {"username": "a:b", "password": "p"}}),
            "basicAuth.username",
        ),
        (
            json!({"basicAuth": {"username": "a"}}),
            "basicAuth.password",
        ),
        (json!({"tokenHeader": "X-Key"}), "secret"),
        (
            json!({"forwardHeaders": ["webhook-signature"]}),
            "forwardHeaders",
        ),
        (json!({"forwardHeaders": ["svix-id"]}), "forwardHeaders"),
        (json!({"forwardHeaders": "x-a"}), "forwardHeaders"),
        (json!({"forwardToApp": "app_missing"}), "forwardToApp"),
    ];
    for (config, field) in cases {
        let (status, answer) = app
            .ingest(
                reqwest::Method::POST,
                SOURCES,
                Some(json!({"name": "g", "type": "generic-webhook", "config": config})),
            )
            .await;
        let mut expected = vec!["body", "config"];
        expected.extend(field.split('.'));
        assert_eq!(
            (status, &answer["detail"][0]["loc"]),
            (422, &json!(expected)),
            "{config}: {answer}"
        );
    }
    let (_, listed) = app.ingest(reqwest::Method::GET, SOURCES, None).await;
    assert_eq!(listed["data"], json!([]), "nothing was created");
}

#[tokio::test]
async fn forward_to_app_makes_accepted_requests_messages_of_that_application() {
    let app = TestApp::spawn().await;
    let ingest_receiver = Receiver::start(vec![]).await;
    let app_receiver = Receiver::start(vec![]).await;
    let (status, user_app) = app
        .post("/app", json!({"name": "billing", "uid": "billing"}))
        .await;
    assert_eq!(status, 201, "{user_app}");
    let app_id = user_app["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": app_receiver.url}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let app_secret = app
        .endpoint_secret(&app_id, endpoint["id"].as_str().unwrap())
        .await;
    let (source, url, _) = source_with_endpoint(
        &app,
        "github",
        json!({"secret": "gh-secret", "forwardToApp": "billing"}),
        &ingest_receiver,
    )
    .await;
    assert_eq!(
        source["config"]["forwardToApp"], app_id,
        "named by uid, kept by id"
    );
    let body = br#"{"ref":"refs/heads/main"}"#;
    let push = |delivery: &str| {
        vec![
            (
                "x-hub-signature-256",
                webhook_signature::github::sign(b"gh-secret", body),
            ),
            ("x-github-event", "push".to_owned()),
            ("x-github-delivery", delivery.to_owned()),
        ]
    };
    let (status, answer) = deliver(&url, &push("d-1"), body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    let at_app = app_receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(at_app[0].body.as_ref(), body, "byte for byte");
    verify_signature(&at_app[0], &app_secret);
    let app_msg_id = at_app[0].header("webhook-id").to_owned();
    let (status, message) = app.get(&format!("/app/{app_id}/msg/{app_msg_id}")).await;
    assert_eq!(
        (status, message["eventType"].as_str()),
        (200, Some("push")),
        "{message}"
    );
    ingest_receiver.wait_for(1, Duration::from_secs(10)).await;
    // A body that is not a JSON object cannot be an application's message: it goes to the
    // ingest endpoints only, and the request log says why.
    let form = b"a=1";
    let form_push = vec![
        (
            "x-hub-signature-256",
            webhook_signature::github::sign(b"gh-secret", form),
        ),
        ("x-github-event", "push".to_owned()),
        ("x-github-delivery", "d-form".to_owned()),
        (
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let (status, answer) = deliver(&url, &form_push, form).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    ingest_receiver.wait_for(2, Duration::from_secs(10)).await;
    // A duplicate is forwarded once, to both.
    assert_eq!(
        deliver(&url, &push("d-1"), body).await.1["status"],
        "duplicate"
    );

    // The application is deleted later: the request is still accepted and reaches the ingest
    // endpoints, and the request log says why it did not reach the application.
    let (status, _) = app
        .request(reqwest::Method::DELETE, &format!("/app/{app_id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, answer) = deliver(&url, &push("d-2"), body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    ingest_receiver.wait_for(3, Duration::from_secs(10)).await;
    let source_id = source["id"].as_str().unwrap();
    let (status, requests) = app
        .ingest(
            reqwest::Method::GET,
            &format!("{SOURCES}/{source_id}/request"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{requests}");
    let by_key = |key: &str, verdict: &str| {
        requests["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["dedupeKey"] == key && r["verdict"] == verdict)
            .cloned()
            .unwrap_or_else(|| panic!("{key} {verdict}: {requests}"))
    };
    assert_eq!(by_key("d-1", "accepted")["appMsgId"], app_msg_id);
    assert_eq!(
        by_key("d-form", "accepted")["appForwardError"],
        "body_not_json_object"
    );
    let after_delete = by_key("d-2", "accepted");
    assert_eq!(after_delete["appForwardError"], "application_not_found");
    assert!(after_delete.get("appMsgId").is_none(), "{after_delete}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app_receiver.received().len(), 1);
}

#[tokio::test]
async fn listed_original_headers_are_forwarded_unchanged_and_no_others() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (source, url, endpoint_secret) = source_with_endpoint(
        &app,
        "github",
        json!({"secret": "gh", "forwardHeaders": ["X-GitHub-Event", "x-github-hook-id"]}),
        &receiver,
    )
    .await;
    assert_eq!(
        source["config"]["forwardHeaders"],
        json!(["x-github-event", "x-github-hook-id"])
    );
    let body = br#"{"zen":"Keep it logically awesome."}"#;
    let headers = vec![
        (
            "x-hub-signature-256",
            webhook_signature::github::sign(b"gh", body),
        ),
        ("x-github-event", "ping".to_owned()),
        ("x-github-hook-id", "Hook 42".to_owned()),
        ("x-github-delivery", "d-9".to_owned()),
        ("webhook-id", "msg_from_the_provider".to_owned()),
    ];
    let (status, answer) = deliver(&url, &headers, body).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("accepted")),
        "{answer}"
    );
    let received = receiver.wait_for(1, Duration::from_secs(10)).await;
    let got = &received[0];
    assert_eq!(got.header("x-github-event"), "ping");
    assert_eq!(got.header("x-github-hook-id"), "Hook 42", "unchanged");
    for absent in ["x-github-delivery", "x-hub-signature-256"] {
        assert!(got.headers.get(absent).is_none(), "{absent} is not listed");
    }
    assert_ne!(
        got.header("webhook-id"),
        "msg_from_the_provider",
        "hookd's own signature headers are never taken from the request"
    );
    verify_signature(got, &endpoint_secret);
}
