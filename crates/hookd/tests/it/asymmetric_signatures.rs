//! Asymmetric signatures (Standard Webhooks `v1a`, ed25519): an endpoint with a `whsk_` secret
//! signs deliveries that a receiver verifies with the `whpk_` public key alone, which is all the
//! API ever shows of that secret; rotations move between `whsec_` and `whsk_` with both
//! signing during the grace period; bad keys are 422s that change nothing; and an inbound
//! Standard Webhooks source verifies `v1a` with a configured `whpk_` key.

use std::time::Duration;

use serde_json::{Value, json};
use webhook_signature::{PublicKey, Secret, VerificationKey, VerifyError, verify_keys};

use crate::harness::{Received, Receiver, TestApp, verify_signature};
use crate::inbound::{SOURCES, deliver, now, source_with_endpoint};

const WAIT: Duration = Duration::from_secs(10);
/// The key pair of Svix's own asymmetric signing test, and its public key.
const KEY_PAIR: &str =
    "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";
const PUBLIC_KEY: &str = "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=";

/// Verifies a delivery with one `whpk_` public key (or `whsec_` secret), nothing else.
fn verify_with(received: &Received, key: &str) -> Result<(), VerifyError> {
    let key = VerificationKey::parse(key).expect("a valid key");
    verify_keys(
        &[key],
        received.header("webhook-id"),
        received.header("webhook-timestamp"),
        received.header("webhook-signature"),
        &received.body,
        chrono::Utc::now().timestamp(),
        300,
    )
}

fn versions(received: &Received) -> Vec<String> {
    received
        .header("webhook-signature")
        .split(' ')
        .map(|entry| entry.split_once(',').unwrap().0.to_owned())
        .collect()
}

async fn rotate(app: &TestApp, app_id: &str, endpoint_id: &str, body: Value) -> (u16, Value) {
    app.post(
        &format!("/app/{app_id}/endpoint/{endpoint_id}/secret/rotate"),
        body,
    )
    .await
}

#[tokio::test]
async fn a_whsk_endpoint_is_verified_with_its_public_key_alone() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (status, created) = app.post("/app", json!({"name": "asymmetric"})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap();
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "secret": KEY_PAIR}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    assert!(
        !endpoint.to_string().contains(&KEY_PAIR[5..30]),
        "{endpoint}"
    );
    let endpoint_id = endpoint["id"].as_str().unwrap();
    // The secret read shows the public key, never the signing half.
    assert_eq!(app.endpoint_secret(app_id, endpoint_id).await, PUBLIC_KEY);

    app.send_message(app_id, json!({"invoice": 1})).await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(versions(&received[0]), ["v1a"]);
    assert_eq!(verify_with(&received[0], PUBLIC_KEY), Ok(()));
    let stranger = Secret::generate_ed25519(&[5; 32]).public_key().unwrap();
    assert_eq!(
        verify_with(&received[0], &stranger.to_string()),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[tokio::test]
async fn rotating_from_whsec_to_whsk_and_back_signs_with_both_during_the_grace_period() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let first = app.endpoint_secret(&app_id, &endpoint_id).await;
    assert!(first.starts_with("whsec_"), "{first}");

    // To a generated key pair (hookd's `keyType`): the answer and the read show its public key.
    let (status, rotated) = rotate(
        &app,
        &app_id,
        &endpoint_id,
        json!({"keyType": "ed25519", "gracePeriodSeconds": 3600}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let generated = rotated["key"].as_str().unwrap().to_owned();
    PublicKey::parse(&generated).expect("the answer is a whpk_ public key");
    assert_eq!(app.endpoint_secret(&app_id, &endpoint_id).await, generated);
    app.send_message(&app_id, json!({"step": 1})).await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(versions(&received[0]), ["v1a", "v1"]);
    assert_eq!(verify_with(&received[0], &generated), Ok(()));
    verify_signature(&received[0], &first);

    // To a given key pair, then back to a given whsec_: every secret still in its grace
    // period signs, each with its own kind of entry.
    let (status, rotated) = rotate(
        &app,
        &app_id,
        &endpoint_id,
        json!({"key": KEY_PAIR, "gracePeriodSeconds": 3600}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["key"], PUBLIC_KEY);
    let last = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (status, rotated) = rotate(
        &app,
        &app_id,
        &endpoint_id,
        json!({"key": last, "gracePeriodSeconds": 3600}),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["key"], last);
    assert_eq!(app.endpoint_secret(&app_id, &endpoint_id).await, last);
    app.send_message(&app_id, json!({"step": 2})).await;
    let received = receiver.wait_for(2, WAIT).await;
    let mut kinds = versions(&received[1]);
    kinds.sort();
    assert_eq!(kinds, ["v1", "v1", "v1a", "v1a"]);
    for key in [last, PUBLIC_KEY, &generated, &first] {
        assert_eq!(verify_with(&received[1], key), Ok(()), "{key}");
    }

    // With no grace period the key pair alone signs from the next delivery on.
    let (status, _) = rotate(
        &app,
        &app_id,
        &endpoint_id,
        json!({"key": KEY_PAIR, "gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = rotate(
        &app,
        &app_id,
        &endpoint_id,
        json!({"keyType": "hmac", "gracePeriodSeconds": 0}),
    )
    .await;
    assert_eq!(status, 200);
    let hmac = app.endpoint_secret(&app_id, &endpoint_id).await;
    assert!(hmac.starts_with("whsec_"), "{hmac}");
}

#[tokio::test]
async fn bad_keys_are_422s_that_name_the_field_and_change_nothing() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let before = app.endpoint_secret(&app_id, &endpoint_id).await;
    let mismatched = {
        // The public half of another pair.
        let other = Secret::generate_ed25519(&[8; 32]).to_string();
        format!("{}{}", &KEY_PAIR[..48], &other[48..])
    };
    // (rotate body, the field named)
    let cases = [
        (json!({"key": PUBLIC_KEY}), "key"),
        (json!({"key": mismatched}), "key"),
        (json!({"key": KEY_PAIR.trim_end_matches('=')}), "key"),
        (json!({"key": "whsk_c2hvcnQ="}), "key"),
        (json!({"key": "whsk_not base64!"}), "key"),
        (json!({"key": KEY_PAIR, "keyType": "ed25519"}), "keyType"),
        (json!({"keyType": "rsa"}), "keyType"),
    ];
    for (body, field) in cases {
        let (status, error) = rotate(&app, &app_id, &endpoint_id, body.clone()).await;
        assert_eq!(status, 422, "{body}: {error}");
        let locations = error["detail"].to_string();
        assert!(locations.contains(field), "{body}: {error}");
        assert!(!error.to_string().contains(&KEY_PAIR[5..30]), "{error}");
    }
    let (status, error) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "secret": PUBLIC_KEY}),
        )
        .await;
    assert_eq!(status, 422, "{error}");
    assert!(error["detail"].to_string().contains("secret"), "{error}");
    assert_eq!(app.endpoint_secret(&app_id, &endpoint_id).await, before);
    let (_, endpoints) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(
        endpoints["data"].as_array().unwrap().len(),
        1,
        "{endpoints}"
    );
}

#[tokio::test]
async fn a_standard_webhooks_source_verifies_v1a_with_a_whpk_key() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (_, url, _) = source_with_endpoint(
        &app,
        "standard-webhooks",
        json!({"secret": PUBLIC_KEY}),
        &receiver,
    )
    .await;
    let pair = Secret::parse(KEY_PAIR).unwrap();
    let stranger = Secret::generate_ed25519(&[6; 32]);
    let body = br#"{"type":"user.created"}"#;
    let signed = |secret: &Secret, id: &str| {
        let timestamp = now();
        vec![
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", timestamp.to_string()),
            (
                "webhook-signature",
                webhook_signature::signature_header(&[secret], id, timestamp, body),
            ),
        ]
    };
    let (status, answer) = deliver(&url, &signed(&stranger, "msg_stranger"), body).await;
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = deliver(&url, &signed(&pair, "msg_signed"), body).await;
    assert!((200..300).contains(&status), "{status} {answer}");
    let forwarded = receiver.wait_for(1, WAIT).await;
    assert_eq!(&forwarded[0].body[..], body);

    // A source's secret must be a key it can verify with: a whsk_ pair's public half is
    // refused when it does not belong to its seed.
    let (status, error) = app
        .ingest(
            reqwest::Method::POST,
            SOURCES,
            Some(json!({"name": "bad", "type": "standard-webhooks",
                "config": {"secret": "whpk_c2hvcnQ="}})),
        )
        .await;
    assert_eq!(status, 422, "{error}");
}
