//! Standard Webhooks signing, the scheme hookd uses for every outbound message and that Svix
//! shares. This module owns the `whsec_` [`Secret`], the `v1,` signature over
//! `"{msg_id}.{timestamp}.{body}"`, the space-separated `webhook-signature` header that carries one
//! signature per active secret during key rotation, and its verification. It does not read
//! requests, the clock or a random source: callers pass header values, `now` and random bytes.
//!
//! Specification: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use subtle::ConstantTimeEq;

use crate::VerifyError;
use crate::mac::{hmac_sha256, tags_match};
use crate::timestamp::{check_within_tolerance, parse_unix_timestamp};

/// The fewest key bytes a [`Secret`] may hold, as the specification requires.
pub const MIN_SECRET_LEN: usize = 24;
/// The most key bytes a [`Secret`] may hold, as the specification requires.
pub const MAX_SECRET_LEN: usize = 64;

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";

/// A symmetric signing key of 24 to 64 bytes.
///
/// Its text form, from [`Display`](fmt::Display), is `whsec_` followed by the standard base64 of
/// the key; that is what users see and what should be stored. [`Debug`](fmt::Debug) never shows
/// the key, so a secret can sit in a logged struct without leaking.
#[derive(Clone)]
pub struct Secret {
    key: Vec<u8>,
}

/// Why text or bytes could not become a [`Secret`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// [`Secret::parse_whsec`] was given text without the `whsec_` prefix.
    #[error("the secret does not start with {SECRET_PREFIX}")]
    MissingPrefix,
    /// The text after the optional `whsec_` prefix is not base64.
    #[error("the secret is not valid base64")]
    InvalidBase64(#[source] base64::DecodeError),
    /// The key is shorter than [`MIN_SECRET_LEN`] or longer than [`MAX_SECRET_LEN`] bytes.
    #[error(
        "the secret is {len} bytes long; it must be {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes"
    )]
    InvalidLength {
        /// The length of the rejected key, in bytes.
        len: usize,
    },
}

impl Secret {
    /// Parses `whsec_<base64>`, or bare base64 as the Standard Webhooks libraries also accept.
    ///
    /// Base64 padding is optional, since secrets are often copied without it.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded_key = text.strip_prefix(SECRET_PREFIX).unwrap_or(text);
        let key = STANDARD_PAD_INDIFFERENT
            .decode(encoded_key)
            .map_err(SecretError::InvalidBase64)?;
        Self::from_bytes(&key)
    }

    /// Parses only the form [`Display`](fmt::Display) writes: `whsec_` followed by the padded,
    /// canonical standard base64 of a 24 to 64 byte key. A server that stores and shows secrets
    /// uses this for secrets its users choose, so that what it shows back is exactly what it
    /// was given; [`Secret::parse`] stays lenient, as verifiers must be.
    pub fn parse_whsec(text: &str) -> Result<Self, SecretError> {
        let encoded_key = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded_key)
            .map_err(SecretError::InvalidBase64)?;
        Self::from_bytes(&key)
    }

    /// Wraps raw key bytes, which must be 24 to 64 bytes long.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&key.len()) {
            return Err(SecretError::InvalidLength { len: key.len() });
        }
        Ok(Self { key: key.to_vec() })
    }

    /// Makes a new secret from `random_bytes`, which the caller draws from a cryptographically
    /// secure source (this crate has none, to stay deterministic). 24 to 64 bytes are accepted;
    /// 32 is a good choice.
    pub fn generate(random_bytes: &[u8]) -> Result<Self, SecretError> {
        Self::from_bytes(random_bytes)
    }
}

impl FromStr for Secret {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{SECRET_PREFIX}{}", STANDARD.encode(&self.key))
    }
}

/// Two secrets are equal when their keys are; the comparison takes the same time wherever the
/// keys differ.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.key.ct_eq(&other.key).into()
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Secret")
            .field("key", &format_args!("<redacted>"))
            .finish()
    }
}

/// Signs one message: `v1,` followed by the base64 of
/// HMAC-SHA256(key, `"{msg_id}.{timestamp}.{body}"`).
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = signature_tag(secret, msg_id, timestamp, body);
    format!("{SIGNATURE_VERSION},{}", STANDARD.encode(tag))
}

/// The `webhook-signature` header value: one [`sign`] entry per secret, separated by spaces.
///
/// Passing both the old and the new secret during a rotation lets receivers that know either
/// one verify the message.
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|secret| sign(secret, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Verifies a message against the `webhook-id` (`msg_id`), `webhook-timestamp` and
/// `webhook-signature` header values.
///
/// The message passes if its timestamp is within `tolerance_secs` of `now_unix` in either
/// direction (usually [`crate::DEFAULT_TOLERANCE_SECS`]) and any `v1` entry of the header matches
/// any of `secrets`. Entries of other versions (such as the asymmetric `v1a`) are skipped.
/// Tags are compared in constant time.
///
/// # Errors
/// [`VerifyError::MissingMessageId`], [`VerifyError::MissingSignature`],
/// [`VerifyError::MissingTimestamp`] or [`VerifyError::InvalidTimestamp`] for absent or unreadable
/// headers; [`VerifyError::TimestampTooOld`] or [`VerifyError::TimestampTooNew`] outside the
/// tolerance; [`VerifyError::MalformedSignature`] if no entry has the form `<version>,<signature>`;
/// [`VerifyError::NoMatchingSignature`] otherwise.
pub fn verify(
    secrets: &[Secret],
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    if msg_id.is_empty() {
        return Err(VerifyError::MissingMessageId);
    }
    if signature_header.trim().is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let timestamp = parse_unix_timestamp(timestamp_header)?;
    check_within_tolerance(timestamp, now_unix, tolerance_secs)?;

    let entries: Vec<(&str, &str)> = signature_header
        .split_whitespace()
        .filter_map(|entry| entry.split_once(','))
        .collect();
    if entries.is_empty() {
        return Err(VerifyError::MalformedSignature);
    }
    // An entry that is not base64 cannot match, but a later entry still may.
    let provided_tags: Vec<Vec<u8>> = entries
        .iter()
        .filter(|(version, _)| *version == SIGNATURE_VERSION)
        .filter_map(|(_, encoded_tag)| STANDARD.decode(encoded_tag).ok())
        .collect();

    let any_match = secrets.iter().any(|secret| {
        let expected = signature_tag(secret, msg_id, timestamp, body);
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

fn signature_tag(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let timestamp = timestamp.to_string();
    hmac_sha256(
        &secret.key,
        &[msg_id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
    )
}
