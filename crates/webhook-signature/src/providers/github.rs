//! GitHub webhooks: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`. The scheme has
//! no timestamp, so replay protection, if wanted, must come from the delivery id elsewhere.
//!
//! Reference: <https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries>

use crate::VerifyError;
use crate::mac::{any_secret_matches, decode_lowercase_hex, hmac_sha256};

/// The header GitHub puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Hub-Signature-256";
/// The header with GitHub's unique id of the delivery, the key for deduplication.
pub const DELIVERY_ID_HEADER: &str = "X-GitHub-Delivery";
/// The header naming the event type (`push`, `issues`, ...).
pub const EVENT_HEADER: &str = "X-GitHub-Event";

const PREFIX: &str = "sha256=";

/// The `X-Hub-Signature-256` value GitHub would send for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    format!("{PREFIX}{}", hex::encode(hmac_sha256(secret, &[body])))
}

/// Verifies a GitHub delivery from its `X-Hub-Signature-256` value and raw body.
///
/// Same as [`verify_any`] with one secret.
///
/// # Errors
/// As [`verify_any`].
pub fn verify(secret: &[u8], signature_header: &str, body: &[u8]) -> Result<(), VerifyError> {
    verify_any(&[secret], signature_header, body)
}

/// Verifies a GitHub delivery signed with any of `secrets` (several during a rotation).
///
/// # Errors
/// [`VerifyError::MissingSignature`] for an empty header, [`VerifyError::MalformedSignature`]
/// without the `sha256=` prefix or with anything but lowercase hex digits, [`VerifyError::NoMatchingSignature`] if
/// the tag differs under every secret.
pub fn verify_any<S: AsRef<[u8]>>(
    secrets: &[S],
    signature_header: &str,
    body: &[u8],
) -> Result<(), VerifyError> {
    if signature_header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let provided = signature_header
        .strip_prefix(PREFIX)
        .and_then(decode_lowercase_hex)
        .ok_or(VerifyError::MalformedSignature)?;
    any_secret_matches(secrets, &provided, |secret| hmac_sha256(secret, &[body]))
}
