//! Shopify webhooks: `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256(secret, body)>`. The scheme has
//! no timestamp; Shopify's `X-Shopify-Webhook-Id` is the handle for deduplication elsewhere.
//!
//! Reference: <https://shopify.dev/docs/apps/build/webhooks/subscribe/https#step-5-verify-the-webhook>

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::VerifyError;
use crate::mac::{any_secret_matches, hmac_sha256};

/// The header Shopify puts the signature in.
pub const SIGNATURE_HEADER: &str = "X-Shopify-Hmac-Sha256";
/// The header with Shopify's unique id of the webhook, the key for deduplication.
pub const WEBHOOK_ID_HEADER: &str = "X-Shopify-Webhook-Id";
/// The header naming the topic (`orders/create`, ...).
pub const TOPIC_HEADER: &str = "X-Shopify-Topic";

/// The `X-Shopify-Hmac-Sha256` value Shopify would send for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    STANDARD.encode(hmac_sha256(secret, &[body]))
}

/// Verifies a Shopify delivery from its `X-Shopify-Hmac-Sha256` value and raw body.
///
/// Same as [`verify_any`] with one secret.
///
/// # Errors
/// As [`verify_any`].
pub fn verify(secret: &[u8], signature_header: &str, body: &[u8]) -> Result<(), VerifyError> {
    verify_any(&[secret], signature_header, body)
}

/// Verifies a Shopify delivery signed with any of `secrets` (several during a rotation).
///
/// # Errors
/// [`VerifyError::MissingSignature`] for an empty header, [`VerifyError::MalformedSignature`] if
/// it is not base64, [`VerifyError::NoMatchingSignature`] if the tag differs under every secret.
pub fn verify_any<S: AsRef<[u8]>>(
    secrets: &[S],
    signature_header: &str,
    body: &[u8],
) -> Result<(), VerifyError> {
    if signature_header.is_empty() {
        return Err(VerifyError::MissingSignature);
    }
    let provided = STANDARD
        .decode(signature_header)
        .map_err(|_| VerifyError::MalformedSignature)?;
    any_secret_matches(secrets, &provided, |secret| hmac_sha256(secret, &[body]))
}
