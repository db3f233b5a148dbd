//! Slack request signing: `X-Slack-Signature: v0=<hex HMAC-SHA256(signing secret,
//! "v0:{timestamp}:{body}")>`, where the timestamp is the `X-Slack-Request-Timestamp` header text.
//! The timestamp must lie within a tolerance of a caller-supplied "now" to stop replays.
//!
//! Reference: <https://api.slack.com/authentication/verifying-requests-from-slack>

use crate::VerifyError;
use crate::mac::{any_secret_matches, decode_lowercase_hex, hmac_sha256};
use crate::timestamp::{check_within_tolerance, parse_unix_timestamp};

/// The header Slack puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Slack-Signature";
/// The header Slack puts the signed timestamp in.
pub const TIMESTAMP_HEADER: &str = "X-Slack-Request-Timestamp";

const PREFIX: &str = "v0=";

/// The `X-Slack-Signature` value Slack would send for `body` at `timestamp` under
/// `signing_secret`.
pub fn sign(signing_secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = signature_tag(signing_secret, &timestamp.to_string(), body);
    format!("{PREFIX}{}", hex::encode(tag))
}

/// Verifies a Slack request from its `X-Slack-Request-Timestamp` and `X-Slack-Signature` values
/// and raw body, accepting timestamps within `tolerance_secs` of `now_unix` (usually
/// [`crate::DEFAULT_TOLERANCE_SECS`]).
///
/// Same as [`verify_any`] with one secret.
///
/// # Errors
/// As [`verify_any`].
pub fn verify(
    signing_secret: &[u8],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    verify_any(
        &[signing_secret],
        timestamp_header,
        signature_header,
        body,
        now_unix,
        tolerance_secs,
    )
}

/// Verifies a Slack request signed with any of `signing_secrets` (several during a rotation).
///
/// # Errors
/// [`VerifyError::MissingSignature`], [`VerifyError::MissingTimestamp`] or
/// [`VerifyError::InvalidTimestamp`] for absent or unreadable headers;
/// [`VerifyError::TimestampTooOld`] or [`VerifyError::TimestampTooNew`] outside the tolerance;
/// [`VerifyError::MalformedSignature`] without the `v0=` prefix or with anything but lowercase hex digits;
/// [`VerifyError::NoMatchingSignature`] if the tag differs under every secret.
pub fn verify_any<S: AsRef<[u8]>>(
    signing_secrets: &[S],
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    if signature_header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let timestamp = parse_unix_timestamp(timestamp_header)?;
    check_within_tolerance(timestamp, now_unix, tolerance_secs)?;
    let provided = signature_header
        .strip_prefix(PREFIX)
        .and_then(decode_lowercase_hex)
        .ok_or(VerifyError::MalformedSignature)?;
    // Slack signs the header text as sent, not a reformatted number.
    any_secret_matches(signing_secrets, &provided, |secret| {
        signature_tag(secret, timestamp_header, body)
    })
}

/// The `challenge` of a Slack Events API `url_verification` request, which the receiver must
/// echo back (after verifying the request like any other) for Slack to enable the URL; `None`
/// for any other body.
pub fn url_verification_challenge(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct UrlVerification {
        #[serde(rename = "type")]
        kind: String,
        challenge: String,
    }
    let request: UrlVerification = serde_json::from_slice(body).ok()?;
    (request.kind == "url_verification").then_some(request.challenge)
}

fn signature_tag(signing_secret: &[u8], timestamp_text: &str, body: &[u8]) -> Vec<u8> {
    hmac_sha256(
        signing_secret,
        &[b"v0:", timestamp_text.as_bytes(), b":", body],
    )
}
