//! Standard Webhooks signing, the scheme hookd uses for every outbound message and that Svix
//! shares. This module owns the signing [`Secret`] (a symmetric `whsec_` key, or an ed25519
//! `whsk_` key pair), the signature over `"{msg_id}.{timestamp}.{body}"` (`v1,` HMAC-SHA256 or
//! `v1a,` ed25519), the space-separated `webhook-signature` header that carries one signature per
//! active secret during key rotation, and its verification, with secrets or with the `whpk_`
//! public keys of `asymmetric`. It does not read requests, the clock or a random source: callers
//! pass header values, `now` and random bytes.
//!
//! Specification: <https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md>

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_PAD_INDIFFERENT};
use subtle::ConstantTimeEq;

use crate::VerifyError;
use crate::asymmetric::{self, Ed25519Error, KeyPair, PublicKey};
use crate::mac::{hmac_sha256, tags_match};
use crate::timestamp::{check_within_tolerance, parse_unix_timestamp};

/// The fewest key bytes a [`Secret`] may hold, as the specification requires.
pub const MIN_SECRET_LEN: usize = 24;
/// The most key bytes a [`Secret`] may hold, as the specification requires.
pub const MAX_SECRET_LEN: usize = 64;

const SECRET_PREFIX: &str = "whsec_";
const SIGNATURE_VERSION: &str = "v1";

/// A signing key: a symmetric key of 24 to 64 bytes (`whsec_`, signing `v1` HMAC-SHA256
/// entries), or an ed25519 key pair (`whsk_`, signing `v1a` entries that receivers verify with
/// the pair's [`PublicKey`] alone).
///
/// Its text form, from [`Display`](fmt::Display), is `whsec_` followed by the standard base64 of
/// the key, or `whsk_` followed by the standard base64 of the 64-byte key pair (the 32-byte seed,
/// then the 32-byte public key, as libsodium and Svix write it); that is what should be stored.
/// [`Debug`](fmt::Debug) never shows the key, so a secret can sit in a logged struct without
/// leaking.
#[derive(Clone)]
pub struct Secret {
    key: SecretKey,
}

#[derive(Clone)]
enum SecretKey {
    Hmac(Vec<u8>),
    Ed25519(KeyPair),
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
    /// A `whsk_` key that is not a valid ed25519 key pair.
    #[error(transparent)]
    InvalidKeyPair(#[from] Ed25519Error),
    /// A `whpk_` public key was given where a signing secret is needed.
    #[error("a whpk_ public key cannot sign; the signing secret is the whsk_ key")]
    PublicKeyGiven,
}

impl Secret {
    /// Parses `whsec_<base64>`, or bare base64 as the Standard Webhooks libraries also accept,
    /// or a `whsk_<base64>` ed25519 key pair.
    ///
    /// Base64 padding is optional, since secrets are often copied without it.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if let Some(encoded_pair) = text.strip_prefix(asymmetric::SECRET_KEY_PREFIX) {
            return Ok(Self::ed25519(KeyPair::decode(encoded_pair, false)?));
        }
        if text.starts_with(asymmetric::PUBLIC_KEY_PREFIX) {
            return Err(SecretError::PublicKeyGiven);
        }
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

    /// Parses only the forms [`Display`](fmt::Display) writes: [`Secret::parse_whsec`]'s, or
    /// `whsk_` followed by the padded, canonical standard base64 of a 64-byte ed25519 key pair
    /// whose public half belongs to its seed. For secrets a server's users choose, so that what
    /// it shows back is exactly what it was given.
    pub fn parse_strict(text: &str) -> Result<Self, SecretError> {
        if let Some(encoded_pair) = text.strip_prefix(asymmetric::SECRET_KEY_PREFIX) {
            return Ok(Self::ed25519(KeyPair::decode(encoded_pair, true)?));
        }
        if text.starts_with(asymmetric::PUBLIC_KEY_PREFIX) {
            return Err(SecretError::PublicKeyGiven);
        }
        Self::parse_whsec(text)
    }

    /// Wraps raw symmetric key bytes, which must be 24 to 64 bytes long.
    pub fn from_bytes(key: &[u8]) -> Result<Self, SecretError> {
        if !(MIN_SECRET_LEN..=MAX_SECRET_LEN).contains(&key.len()) {
            return Err(SecretError::InvalidLength { len: key.len() });
        }
        Ok(Self {
            key: SecretKey::Hmac(key.to_vec()),
        })
    }

    /// Makes a new ed25519 key pair from a 32-byte `seed`, which the caller draws from a
    /// cryptographically secure source.
    pub fn generate_ed25519(seed: &[u8; 32]) -> Self {
        Self::ed25519(KeyPair::from_seed(seed))
    }

    /// The public key receivers verify this secret's `v1a` signatures with; `None` for a
    /// symmetric secret, which has none (receivers need the secret itself).
    pub fn public_key(&self) -> Option<PublicKey> {
        match &self.key {
            SecretKey::Hmac(_) => None,
            SecretKey::Ed25519(pair) => Some(pair.public_key()),
        }
    }

    /// Whether this is an ed25519 (`whsk_`) key pair.
    pub fn is_asymmetric(&self) -> bool {
        matches!(self.key, SecretKey::Ed25519(_))
    }

    fn ed25519(pair: KeyPair) -> Self {
        Self {
            key: SecretKey::Ed25519(pair),
        }
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
        match &self.key {
            SecretKey::Hmac(key) => write!(formatter, "{SECRET_PREFIX}{}", STANDARD.encode(key)),
            SecretKey::Ed25519(pair) => pair.fmt(formatter),
        }
    }
}

/// Two secrets are equal when they are of one kind and their keys are equal; the comparison
/// takes the same time wherever the keys differ.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        match (&self.key, &other.key) {
            (SecretKey::Hmac(mine), SecretKey::Hmac(theirs)) => mine.ct_eq(theirs).into(),
            (SecretKey::Ed25519(mine), SecretKey::Ed25519(theirs)) => mine == theirs,
            _ => false,
        }
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
/// HMAC-SHA256(key, `"{msg_id}.{timestamp}.{body}"`) for a symmetric secret, or `v1a,` followed
/// by the base64 of the ed25519 signature of the same content for a key pair.
pub fn sign(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let content = signed_content(msg_id, timestamp, body);
    let (version, signature) = match &secret.key {
        SecretKey::Hmac(key) => (EntryVersion::Hmac, hmac_sha256(key, &[&content])),
        SecretKey::Ed25519(pair) => (EntryVersion::Ed25519, pair.sign(&content).to_vec()),
    };
    format!("{},{}", version.label(), STANDARD.encode(signature))
}

/// What verifies a message: a [`Secret`] (a symmetric one checks `v1` entries, a key pair `v1a`
/// entries with its public half), or a receiver's [`PublicKey`] (`v1a` entries).
#[derive(Debug, Clone, PartialEq)]
pub enum VerificationKey {
    /// A signing secret, `whsec_` or `whsk_`.
    Secret(Secret),
    /// An ed25519 public key, `whpk_`.
    Public(PublicKey),
}

impl VerificationKey {
    /// Parses a `whpk_` public key, or anything [`Secret::parse`] takes.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        if text.starts_with(asymmetric::PUBLIC_KEY_PREFIX) {
            return Ok(Self::Public(PublicKey::parse(text)?));
        }
        Secret::parse(text).map(Self::Secret)
    }
}

impl From<Secret> for VerificationKey {
    fn from(secret: Secret) -> Self {
        Self::Secret(secret)
    }
}

impl From<PublicKey> for VerificationKey {
    fn from(public_key: PublicKey) -> Self {
        Self::Public(public_key)
    }
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
/// direction (usually [`crate::DEFAULT_TOLERANCE_SECS`]) and any entry of the header matches
/// any of `secrets`: a `v1` entry a symmetric secret, a `v1a` entry a key pair's public key.
/// Entries of other versions are skipped. Tags are compared in constant time.
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
    let keys: Vec<KeyRef<'_>> = secrets.iter().map(KeyRef::Secret).collect();
    verify_with(
        &keys,
        msg_id,
        timestamp_header,
        signature_header,
        body,
        now_unix,
        tolerance_secs,
    )
}

/// [`verify`] with [`VerificationKey`]s, so that a receiver holding only `whpk_` public keys
/// (and, during a rotation, a `whsec_` secret too) can verify a header of mixed `v1` and
/// `v1a` entries: each key checks the entries of its own kind.
///
/// # Errors
/// As [`verify`].
pub fn verify_keys(
    keys: &[VerificationKey],
    msg_id: &str,
    timestamp_header: &str,
    signature_header: &str,
    body: &[u8],
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let keys: Vec<KeyRef<'_>> = keys
        .iter()
        .map(|key| match key {
            VerificationKey::Secret(secret) => KeyRef::Secret(secret),
            VerificationKey::Public(public_key) => KeyRef::Public(public_key),
        })
        .collect();
    verify_with(
        &keys,
        msg_id,
        timestamp_header,
        signature_header,
        body,
        now_unix,
        tolerance_secs,
    )
}

enum KeyRef<'a> {
    Secret(&'a Secret),
    Public(&'a PublicKey),
}

fn verify_with(
    keys: &[KeyRef<'_>],
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

    let provided = ProvidedSignatures::parse(signature_header)?;
    let content = signed_content(msg_id, timestamp, body);

    let any_match = keys.iter().any(|key| match key {
        KeyRef::Secret(Secret {
            key: SecretKey::Hmac(key),
        }) => {
            let expected = hmac_sha256(key, &[&content]);
            provided
                .hmac_tags
                .iter()
                .any(|provided| tags_match(&expected, provided))
        }
        KeyRef::Secret(Secret {
            key: SecretKey::Ed25519(pair),
        }) => pair
            .public_key()
            .verifies_any(&content, &provided.ed25519_signatures),
        KeyRef::Public(public_key) => {
            public_key.verifies_any(&content, &provided.ed25519_signatures)
        }
    });
    if any_match {
        Ok(())
    } else {
        Err(VerifyError::NoMatchingSignature)
    }
}

/// The version label before the comma of a `webhook-signature` entry: what kind of key
/// signed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryVersion {
    /// `v1`: HMAC-SHA256 under a symmetric secret.
    Hmac,
    /// `v1a`: ed25519 under a key pair.
    Ed25519,
}

impl EntryVersion {
    fn label(self) -> &'static str {
        match self {
            Self::Hmac => SIGNATURE_VERSION,
            Self::Ed25519 => asymmetric::SIGNATURE_VERSION,
        }
    }

    fn from_label(label: &str) -> Option<Self> {
        [Self::Hmac, Self::Ed25519]
            .into_iter()
            .find(|version| version.label() == label)
    }
}

/// The decoded signatures of a `webhook-signature` header, by kind: one pass over its
/// `<version>,<base64>` entries sorts `v1` tags from `v1a` signatures.
struct ProvidedSignatures {
    hmac_tags: Vec<Vec<u8>>,
    ed25519_signatures: Vec<Vec<u8>>,
}

impl ProvidedSignatures {
    /// Entries of another version, and entries that are not base64, are skipped: they cannot
    /// match, but a later entry still may. A header with no `<version>,<signature>` entry at
    /// all is [`VerifyError::MalformedSignature`].
    fn parse(signature_header: &str) -> Result<Self, VerifyError> {
        let mut provided = Self {
            hmac_tags: Vec::new(),
            ed25519_signatures: Vec::new(),
        };
        let mut any_entry = false;
        for (label, encoded) in signature_header
            .split_whitespace()
            .filter_map(|entry| entry.split_once(','))
        {
            any_entry = true;
            let (Some(version), Ok(decoded)) =
                (EntryVersion::from_label(label), STANDARD.decode(encoded))
            else {
                continue;
            };
            match version {
                EntryVersion::Hmac => provided.hmac_tags.push(decoded),
                EntryVersion::Ed25519 => provided.ed25519_signatures.push(decoded),
            }
        }
        if any_entry {
            Ok(provided)
        } else {
            Err(VerifyError::MalformedSignature)
        }
    }
}

/// `"{msg_id}.{timestamp}.{body}"`, what both kinds of signature sign.
fn signed_content(msg_id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut content = format!("{msg_id}.{timestamp}.").into_bytes();
    content.extend_from_slice(body);
    content
}
