//! [`Verifier`]: each source type reads its provider's headers from a whole request, accepts a
//! signature made with any configured secret (rotation), and refuses a configuration that cannot
//! work when it is built.

use std::collections::HashSet;

use webhook_signature::VerifyError::{
    self, MalformedSignature, MissingMessageId, MissingSignature, MissingTimestamp,
    NoMatchingSignature, TimestampTooOld,
};
use webhook_signature::{
    ConfigError, Secret, SharedSecrets, SourceType, Verifier, github, shopify, slack, stripe,
    twilio,
};

use crate::inbound::Inbound;
use crate::table::{Case, check};
use crate::vectors;

const BODY: &[u8] = br#"{"id":"evt_1","type":"thing.happened"}"#;
const NOW: i64 = 1_700_000_000;
const OLD: &str = "whsec_old_secret_text";
const NEW: &str = "whsec_new_secret_text";

/// Secrets as a source holds them during a rotation: the old one first, so that the new one
/// (which every request below is signed with) is not the first tried.
fn rotating() -> SharedSecrets {
    SharedSecrets::new([OLD, NEW]).unwrap()
}

fn old_only() -> SharedSecrets {
    SharedSecrets::new([OLD]).unwrap()
}

/// Checks `valid`, the same request under a verifier with only the old secret, and `cases`.
fn check_rotation(valid: &Inbound, old_only: Verifier, cases: &[Case<Inbound>]) {
    check(valid, Inbound::verify, cases);
    let mut rotated_out = valid.clone();
    rotated_out.verifier = old_only;
    assert_eq!(rotated_out.verify(), Err(NoMatchingSignature));
}

#[test]
fn stripe_reads_stripe_signature_and_any_secret_matches() {
    let header = stripe::sign(NEW.as_bytes(), NOW, BODY);
    let valid = Inbound::new(
        Verifier::stripe(rotating()),
        &[("stripe-signature", &header)],
        BODY,
        NOW,
    );
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("tampered body", |inbound| inbound.body.push(b' '), Err(NoMatchingSignature)),
        ("stale", |inbound| inbound.now += 301, Err(TimestampTooOld)),
        ("no header", |inbound| inbound.remove_header("stripe-signature"), Err(MissingSignature)),
        ("not UTF-8", |inbound| inbound.header_mut("stripe-signature")[0] = 0xC0, Err(MalformedSignature)),
    ];
    check_rotation(&valid, Verifier::stripe(old_only()), cases);
}

#[test]
fn tolerance_is_configurable_and_never_negative() {
    let header = stripe::sign(NEW.as_bytes(), NOW, BODY);
    let verifier = Verifier::stripe(rotating()).with_tolerance(10).unwrap();
    let mut inbound = Inbound::new(verifier, &[("Stripe-Signature", &header)], BODY, NOW + 10);
    assert_eq!(inbound.verify(), Ok(()));
    inbound.now += 1;
    assert_eq!(inbound.verify(), Err(TimestampTooOld));
    let negative = Verifier::stripe(rotating()).with_tolerance(-1).map(drop);
    assert_eq!(negative, Err(ConfigError::NegativeTolerance));
}

#[test]
fn github_reads_x_hub_signature_256() {
    let header = github::sign(NEW.as_bytes(), BODY);
    let valid = Inbound::new(
        Verifier::github(rotating()),
        &[("X-HUB-SIGNATURE-256", &header)],
        BODY,
        0,
    );
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("tampered body", |inbound| inbound.body.pop().map(drop).unwrap_or(()), Err(NoMatchingSignature)),
        ("sha1 header only", |inbound| inbound.headers[0].0 = "X-Hub-Signature".into(), Err(MissingSignature)),
    ];
    check_rotation(&valid, Verifier::github(old_only()), cases);
}

#[test]
fn shopify_reads_x_shopify_hmac_sha256() {
    let header = shopify::sign(NEW.as_bytes(), BODY);
    let valid = Inbound::new(
        Verifier::shopify(rotating()),
        &[("x-shopify-hmac-sha256", &header)],
        BODY,
        0,
    );
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("tampered body", |inbound| inbound.body[0] = b'[', Err(NoMatchingSignature)),
        ("no header", |inbound| inbound.headers.clear(), Err(MissingSignature)),
    ];
    check_rotation(&valid, Verifier::shopify(old_only()), cases);
}

#[test]
fn slack_reads_its_signature_and_timestamp_headers() {
    let header = slack::sign(NEW.as_bytes(), NOW, BODY);
    let headers = [
        ("X-Slack-Signature", header.as_str()),
        ("X-Slack-Request-Timestamp", "1700000000"),
    ];
    let valid = Inbound::new(Verifier::slack(rotating()), &headers, BODY, NOW);
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("stale", |inbound| inbound.now += 301, Err(TimestampTooOld)),
        ("no timestamp", |inbound| inbound.remove_header("X-Slack-Request-Timestamp"), Err(MissingTimestamp)),
        ("timestamp not UTF-8", |inbound| inbound.header_mut("X-Slack-Request-Timestamp")[0] = 0xFF, Err(VerifyError::InvalidTimestamp)),
    ];
    check_rotation(&valid, Verifier::slack(old_only()), cases);
}

fn standard_source(prefix: &str) -> Inbound {
    let vector = vectors::load().standard_webhooks.remove(0);
    let other = Secret::from_bytes(&[9; 32]).unwrap();
    let secrets = vec![other, Secret::parse(&vector.secret).unwrap()];
    let verifier = Verifier::standard_webhooks(secrets).unwrap();
    let timestamp = vector.timestamp.to_string();
    let headers = [
        (format!("{prefix}-id"), vector.msg_id.as_str()),
        (format!("{prefix}-timestamp"), timestamp.as_str()),
        (format!("{prefix}-signature"), vector.signature.as_str()),
    ];
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), *value))
        .collect();
    Inbound::new(
        verifier,
        &headers,
        vector.payload.as_bytes(),
        vector.timestamp,
    )
}

#[test]
fn standard_webhooks_reads_webhook_or_svix_headers() {
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("tampered body", |inbound| inbound.body.push(b'\n'), Err(NoMatchingSignature)),
        ("stale", |inbound| inbound.now += 301, Err(TimestampTooOld)),
        ("no id header", |inbound| { inbound.headers.remove(0); }, Err(MissingMessageId)),
    ];
    for prefix in ["webhook", "svix", "Svix"] {
        check(&standard_source(prefix), Inbound::verify, cases);
    }
    let mixed = standard_source("webhook");
    let mut svix_signature = mixed.clone();
    svix_signature.headers[2].0 = "svix-signature".into();
    assert_eq!(
        svix_signature.verify(),
        Err(MissingSignature),
        "one header set, not a mix"
    );
    assert_eq!(
        Verifier::standard_webhooks(Vec::<Secret>::new()).map(drop),
        Err(ConfigError::NoSecrets)
    );
}

const TWILIO_URL: &str = "https://hooks.example.com/ingest/src_1";

fn twilio_source(query: &str, body: &[u8], signed_url: &str, params: &[(&str, &str)]) -> Inbound {
    let tokens = SharedSecrets::new(["old-token", "new-token"]).unwrap();
    let verifier = Verifier::twilio(tokens, TWILIO_URL).unwrap();
    let signature = twilio::sign(b"new-token", signed_url, params);
    let mut inbound = Inbound::new(verifier, &[("X-Twilio-Signature", &signature)], body, 0);
    inbound.query = query.to_owned();
    inbound
}

#[test]
fn twilio_signs_public_url_and_query_with_the_form_body() {
    let params = [("From", "+1 415"), ("Body", "a&b=c")];
    let signed_url = format!("{TWILIO_URL}?x=1");
    let valid = twilio_source("x=1", b"From=%2B1+415&Body=a%26b%3Dc", &signed_url, &params);
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("parameters reordered", |inbound| inbound.body = b"Body=a%26b%3Dc&From=%2B1%20415".to_vec(), Ok(())),
        ("parameter changed", |inbound| inbound.body = b"From=%2B1+416&Body=a%26b%3Dc".to_vec(), Err(NoMatchingSignature)),
        ("query dropped", |inbound| inbound.query.clear(), Err(NoMatchingSignature)),
        ("no header", |inbound| inbound.headers.clear(), Err(MissingSignature)),
    ];
    check(&valid, Inbound::verify, cases);
    let port_signed = twilio_source(
        "x=1",
        b"From=%2B1+415&Body=a%26b%3Dc",
        "https://hooks.example.com:443/ingest/src_1?x=1",
        &params,
    );
    assert_eq!(
        port_signed.verify(),
        Ok(()),
        "Twilio sometimes signs the default port"
    );
}

#[test]
fn twilio_json_bodies_are_signed_through_body_sha256() {
    let body = br#"{"event":"call.completed"}"#;
    let query = format!("bodySHA256={}", twilio::body_sha256(body));
    let valid = twilio_source(&query, body, &format!("{TWILIO_URL}?{query}"), &[]);
    #[rustfmt::skip]
    let cases: &[Case<Inbound>] = &[
        ("tampered body", |inbound| inbound.body.push(b' '), Err(NoMatchingSignature)),
        ("hash of the tampered body", |inbound| { inbound.body.push(b' '); inbound.query = format!("bodySHA256={}", twilio::body_sha256(&inbound.body)); }, Err(NoMatchingSignature)),
    ];
    check(&valid, Inbound::verify, cases);
    let no_hash = twilio::verify_json_any(&[b"new-token"], TWILIO_URL, body, "AAAA");
    assert_eq!(no_hash, Err(MalformedSignature));
}

#[test]
fn twilio_public_url_must_be_absolute_http_without_query() {
    let tokens = || SharedSecrets::new(["token"]).unwrap();
    for good in ["https://example.com", "http://127.0.0.1:8080/in/x"] {
        assert!(Verifier::twilio(tokens(), good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "example.com/x",
        "https://",
        "https:///x",
        "ftp://example.com",
        "https://example.com/x?y=1",
        "https://e.com/#x",
        "https://e .com",
    ] {
        let result = Verifier::twilio(tokens(), bad).map(drop);
        assert_eq!(result, Err(ConfigError::InvalidPublicUrl), "{bad:?}");
    }
}

#[test]
fn source_types_round_trip_and_unknown_ones_are_refused() {
    for source_type in SourceType::ALL {
        assert_eq!(SourceType::parse(source_type.as_str()), Ok(source_type));
    }
    let standard: Vec<&str> = SourceType::ALL
        .into_iter()
        .filter(|source_type| source_type.uses_standard_webhooks())
        .map(SourceType::as_str)
        .collect();
    assert_eq!(
        standard,
        ["standard-webhooks", "svix", "replicate", "clerk", "resend"]
    );
    let unknown = SourceType::parse("Stripe");
    assert_eq!(
        unknown,
        Err(ConfigError::UnknownSourceType {
            name: "Stripe".into()
        })
    );
}

#[test]
fn error_codes_are_distinct() {
    use VerifyError::*;
    let errors = [
        MissingMessageId,
        MissingSignature,
        MalformedSignature,
        MissingTimestamp,
        VerifyError::InvalidTimestamp,
        TimestampTooOld,
        VerifyError::TimestampTooNew,
        NoMatchingSignature,
        MissingCredentials,
        MalformedCredentials,
        WrongCredentials,
    ];
    let codes: HashSet<&str> = errors.iter().map(VerifyError::code).collect();
    assert_eq!(codes.len(), errors.len());
}
