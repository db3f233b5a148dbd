//! Slack's `X-Slack-Signature` with `X-Slack-Request-Timestamp`.

use webhook_signature::VerifyError::{
    InvalidTimestamp, MalformedSignature, MissingSignature, MissingTimestamp, NoMatchingSignature,
    TimestampTooNew, TimestampTooOld,
};
use webhook_signature::{DEFAULT_TOLERANCE_SECS as TOLERANCE, VerifyError, slack};

use crate::table::{Case, Request, check};
use crate::vectors;

#[test]
fn vectors_sign_and_verify_anywhere_within_tolerance() {
    for vector in vectors::load().slack {
        assert_eq!(vector.header, slack::SIGNATURE_HEADER);
        let (secret, body) = (vector.secret.as_bytes(), vector.payload.as_bytes());
        let timestamp = vector.timestamp.to_string();
        assert_eq!(
            slack::sign(secret, vector.timestamp, body),
            vector.signature
        );
        for now in [
            vector.timestamp - TOLERANCE,
            vector.timestamp,
            vector.timestamp + TOLERANCE,
        ] {
            let result = slack::verify(secret, &timestamp, &vector.signature, body, now, TOLERANCE);
            assert_eq!(result, Ok(()), "now {now}");
        }
    }
}

#[test]
fn rejects_bad_requests() {
    let vector = vectors::load().slack.remove(0);
    let valid = Request {
        secret: vector.secret.into_bytes(),
        timestamp: vector.timestamp.to_string(),
        signature: vector.signature,
        body: vector.payload.into_bytes(),
        now: vector.timestamp,
        ..Request::default()
    };
    // Slack signs the header text, so a zero-padded timestamp is a different message.
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("tampered body", |request| request.body.push(b'&'), Err(NoMatchingSignature)),
        ("wrong secret", |request| request.secret.push(b'x'), Err(NoMatchingSignature)),
        ("tag one byte short", |request| request.signature.truncate(65), Err(NoMatchingSignature)),
        ("zero-padded timestamp", |request| request.timestamp.insert(0, '0'), Err(NoMatchingSignature)),
        ("one second too old", |request| request.now += TOLERANCE + 1, Err(TimestampTooOld)),
        ("one second too new", |request| request.now -= TOLERANCE + 1, Err(TimestampTooNew)),
        ("empty timestamp", |request| request.timestamp.clear(), Err(MissingTimestamp)),
        ("word timestamp", |request| request.timestamp = "now".into(), Err(InvalidTimestamp)),
        ("empty signature", |request| request.signature.clear(), Err(MissingSignature)),
        ("v1 prefix", |request| request.signature.replace_range(..2, "v1"), Err(MalformedSignature)),
        ("non-hex tag", |request| request.signature.replace_range(3..5, "zz"), Err(MalformedSignature)),
        ("upper-case hex, which slack_sdk refuses", |request| request.signature[3..].make_ascii_uppercase(), Err(MalformedSignature)),
    ];
    check(&valid, verify, cases);
}

fn verify(request: &Request) -> Result<(), VerifyError> {
    let Request {
        secret,
        timestamp,
        signature,
        body,
        now,
        ..
    } = request;
    slack::verify(secret, timestamp, signature, body, *now, TOLERANCE)
}

#[test]
fn url_verification_challenge_is_read_from_that_request_only() {
    // Slack's documented example, and bodies that must not be taken for it.
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P";
    assert_eq!(
        slack::url_verification_challenge(body).as_deref(),
        Some(challenge)
    );
    for other in [
        &br#"{"challenge":"x","type":"event_callback"}"#[..],
        br#"{"type":"url_verification"}"#,
        br#"{"challenge":7,"type":"url_verification"}"#,
        b"token=abc&challenge=x&type=url_verification",
        b"",
    ] {
        assert_eq!(slack::url_verification_challenge(other), None);
    }
}
