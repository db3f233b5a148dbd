//! Twilio webhooks: `X-Twilio-Signature: <base64 HMAC-SHA1(auth token, url + params)>`, where
//! `params` is every POST form parameter, sorted by name, written as name followed by value with
//! no separators. The URL must be exactly the one Twilio requested, query string included, as
//! configured publicly (behind a proxy, the URL hookd sees may differ). The scheme has no
//! timestamp. Requests with JSON bodies (signed through a `bodySHA256` query parameter) are not
//! covered here.
//!
//! Reference: <https://www.twilio.com/docs/usage/security#validating-requests>

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::VerifyError;
use crate::mac::{hmac_sha1, tags_match};

/// The header Twilio puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Twilio-Signature";

/// The `X-Twilio-Signature` value Twilio would send for a POST to `url` with form `params`
/// (in any order) under `auth_token`.
pub fn sign<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &[u8],
    url: &str,
    params: &[(K, V)],
) -> String {
    STANDARD.encode(signature_tag(auth_token, url, params))
}

/// Verifies a Twilio request from its `X-Twilio-Signature` value, public URL and decoded POST
/// form parameters (in any order).
///
/// # Errors
/// [`VerifyError::MissingSignature`] for an empty header, [`VerifyError::MalformedSignature`] if
/// it is not base64, [`VerifyError::NoMatchingSignature`] if the tag differs.
pub fn verify<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &[u8],
    url: &str,
    params: &[(K, V)],
    signature_header: &str,
) -> Result<(), VerifyError> {
    if signature_header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let provided = STANDARD
        .decode(signature_header)
        .map_err(|_| VerifyError::MalformedSignature)?;
    if tags_match(&signature_tag(auth_token, url, params), &provided) {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

fn signature_tag<K: AsRef<str>, V: AsRef<str>>(
    auth_token: &[u8],
    url: &str,
    params: &[(K, V)],
) -> Vec<u8> {
    // Twilio's libraries sort by name, then by value for repeated names, and drop exact repeats.
    // Rust orders `str` by bytes, which for UTF-8 is the same as ordering by code point.
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(name, value)| (name.as_ref(), value.as_ref()))
        .collect();
    sorted.sort_unstable();
    sorted.dedup();
    let mut message_parts: Vec<&[u8]> = vec![url.as_bytes()];
    for (name, value) in &sorted {
        message_parts.push(name.as_bytes());
        message_parts.push(value.as_bytes());
    }
    hmac_sha1(auth_token, &message_parts)
}
