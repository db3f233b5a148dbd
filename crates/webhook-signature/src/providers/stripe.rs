//! Stripe webhooks: `Stripe-Signature: t=<timestamp>,v1=<hex>[,v1=<hex>...]`, each `v1` being the
//! hex of HMAC-SHA256(endpoint secret, `"{t}.{body}"`). Stripe uses the whole `whsec_...` secret
//! text as the key, without base64-decoding it, unlike Standard Webhooks. Several `v1` entries
//! appear while a secret is being rolled; any one may match. Other schemes (`v0`) are ignored.
//!
//! Reference: <https://docs.stripe.com/webhooks#verify-manually>

use crate::VerifyError;
use crate::mac::{decode_lowercase_hex, hmac_sha256, tags_match};
use crate::timestamp::{check_within_tolerance, parse_unix_timestamp};

/// The header Stripe puts the timestamp and signatures in.
pub const SIGNATURE_HEADER: &str = "Stripe-Signature";

/// The `Stripe-Signature` value Stripe would send for `body` at `timestamp` under `secret`
/// (the secret's text as bytes, e.g. `b"whsec_..."`).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let tag = signature_tag(secret, &timestamp.to_string(), body);
    format!("t={timestamp},v1={}", hex::encode(tag))
}

/// Verifies a Stripe event from its `Stripe-Signature` value and raw body, accepting timestamps
/// within `tolerance_secs` of `now_unix` (usually [`crate::DEFAULT_TOLERANCE_SECS`]).
///
/// Same as [`verify_any`] with one secret.
///
/// # Errors
/// As [`verify_any`].
pub fn verify(
    secret: &[u8],
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    verify_any(&[secret], signature_header, body, now_unix, tolerance_secs)
}

/// Verifies a Stripe event signed with any of `secrets` (several while an endpoint secret is
/// rolled on the receiving side; Stripe itself sends one `v1` per active secret).
///
/// Stripe's libraries only reject timestamps that are too old; this also rejects one further
/// in the future than the tolerance, as the other schemes here do.
///
/// # Errors
/// [`VerifyError::MissingSignature`] for an empty header; [`VerifyError::MalformedSignature`] if
/// an item is not `key=value`; [`VerifyError::MissingTimestamp`] without `t=`;
/// [`VerifyError::InvalidTimestamp`] for a non-numeric `t`; [`VerifyError::TimestampTooOld`] or
/// [`VerifyError::TimestampTooNew`] outside the tolerance; [`VerifyError::NoMatchingSignature`]
/// if no `v1` entry matches any secret.
pub fn verify_any<S: AsRef<[u8]>>(
    secrets: &[S],
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    if signature_header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let header = ParsedHeader::parse(signature_header)?;
    let timestamp_text = header.timestamp.ok_or(VerifyError::MissingTimestamp)?;
    let timestamp = parse_unix_timestamp(timestamp_text)?;
    check_within_tolerance(timestamp, now_unix, tolerance_secs)?;

    let provided_tags: Vec<Vec<u8>> = header
        .v1_signatures
        .iter()
        .filter_map(|hex_tag| decode_lowercase_hex(hex_tag))
        .collect();
    let any_match = secrets.iter().any(|secret| {
        let expected = signature_tag(secret.as_ref(), timestamp_text, body);
        provided_tags
            .iter()
            .any(|provided| tags_match(&expected, provided))
    });
    if any_match {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The parts of a `Stripe-Signature` value that verification uses, still as text.
struct ParsedHeader<'a> {
    timestamp: Option<&'a str>,
    v1_signatures: Vec<&'a str>,
}

impl<'a> ParsedHeader<'a> {
    fn parse(header: &'a str) -> Result<Self, VerifyError> {
        let mut parsed = Self {
            timestamp: None,
            v1_signatures: Vec::new(),
        };
        for item in header.split(',') {
            let (key, value) = item
                .trim()
                .split_once('=')
                .ok_or(VerifyError::MalformedSignature)?;
            match key {
                // Stripe's own libraries take the first `t`.
                "t" => parsed.timestamp = parsed.timestamp.or(Some(value)),
                "v1" => parsed.v1_signatures.push(value),
                _ => {}
            }
        }
        Ok(parsed)
    }
}

fn signature_tag(secret: &[u8], timestamp_text: &str, body: &[u8]) -> Vec<u8> {
    hmac_sha256(secret, &[timestamp_text.as_bytes(), b".", body])
}
