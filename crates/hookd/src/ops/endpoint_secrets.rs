//! An endpoint's signing secret: what a valid one is, reading the current one, and rotating it
//! with a grace period. A secret is symmetric (`whsec_`, `v1` HMAC signatures) or an ed25519
//! key pair (`whsk_`, `v1a` signatures that receivers verify with its `whpk_` public key);
//! an endpoint may move between the two kinds at any rotation.
//!
//! During the grace period the old secret keeps signing next to the new one (deliveries carry
//! one signature per active secret), so a receiver can switch keys without rejecting anything.
//! Secrets are never logged.

use webhook_signature::standard::{MAX_SECRET_LEN, MIN_SECRET_LEN};
use webhook_signature::{Secret, SecretError};

use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};

const SECRET_PREFIX: &str = "whsec_";
const ASYMMETRIC_PREFIX: &str = "whsk_";
/// Random bytes in a generated secret (Svix uses 24).
const GENERATED_SECRET_BYTES: usize = 24;

/// The endpoint's current secret.
pub async fn current(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
) -> OpResult<Secret> {
    let (_, endpoint) = scope::endpoint(ops, principal, app, endpoint).await?;
    let secrets = ops
        .store
        .endpoint_secrets(&endpoint.id, ops.clock.now())
        .await?;
    let current = secrets
        .into_iter()
        .next()
        .ok_or(OpError::Internal("an endpoint has no current secret"))?;
    Ok(current.key)
}

/// Makes `new_key` (parsed with `parse_secret`, or a generated one) current; the old one keeps
/// signing for `grace`. Returns the new secret.
pub async fn rotate(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
    new_key: Option<Secret>,
    grace: chrono::Duration,
) -> OpResult<Secret> {
    let (app, endpoint) = scope::endpoint(ops, principal, app, endpoint).await?;
    let new_key = new_key.unwrap_or_else(generate_secret);
    let now = ops.clock.now();
    ops.store
        .rotate_endpoint_secret(&endpoint.id, new_key.clone(), now + grace, now)
        .await?;
    tracing::info!(
        app_id = %app.id,
        endpoint_id = %endpoint.id,
        grace_period_seconds = grace.num_seconds(),
        "endpoint secret rotated"
    );
    Ok(new_key)
}

/// A new random secret, `whsec_` + base64 of 24 bytes from the thread's CSPRNG.
pub fn generate_secret() -> Secret {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::fill(&mut bytes);
    Secret::generate(&bytes).expect("24 bytes is a valid secret length")
}

/// A new ed25519 key pair (`whsk_`), its seed from the thread's CSPRNG.
pub fn generate_asymmetric_secret() -> Secret {
    let mut seed = [0u8; 32];
    rand::fill(&mut seed);
    Secret::generate_ed25519(&seed)
}

/// Accepts a caller-supplied secret: `whsec_` followed by padded standard base64 of 24 to 64
/// bytes, or `whsk_` followed by padded standard base64 of a 64-byte ed25519 key pair (seed,
/// then its public key), as `Secret::parse_strict` takes them, so that it is shown back exactly
/// as given. `field` locates the value in 422 errors. The value itself is never echoed back.
pub fn parse_secret(raw: &str, field: &[&str]) -> OpResult<Secret> {
    Secret::parse_strict(raw).map_err(|error| {
        let message = match error {
            SecretError::MissingPrefix => {
                format!("secret must start with {SECRET_PREFIX} or {ASYMMETRIC_PREFIX}")
            }
            SecretError::InvalidBase64(_) => {
                "secret must be base64 after the whsec_ prefix".to_owned()
            }
            SecretError::InvalidLength { .. } => {
                format!("secret must encode {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes")
            }
            SecretError::InvalidKeyPair(reason) => {
                format!("a whsk_ secret must be a base64 ed25519 key pair: {reason}")
            }
            SecretError::PublicKeyGiven => {
                "a whpk_ public key cannot sign; give the whsk_ secret key".to_owned()
            }
        };
        OpError::invalid_body(field, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    /// `None`: accepted and shown back exactly as given; `Some`: the 422's message.
    fn check_secret(raw: &str, refusal: Option<&str>) {
        match parse_secret(raw, &["secret"]) {
            Ok(secret) => {
                assert_eq!(refusal, None, "{raw} was accepted");
                assert_eq!(secret.to_string(), raw);
            }
            Err(OpError::Invalid(invalid)) => {
                assert_eq!(Some(invalid.message.as_str()), refusal, "{raw}");
            }
            Err(other) => panic!("{raw}: {other:?}"),
        }
    }

    /// The key pair of Svix's own asymmetric signing test.
    const SVIX_KEY_PAIR: &str = "whsk_6Xb/dCcHpPea21PS1N9VY/NZW723CEc77N4rJCubMbfVKIDij2HKpMKkioLlX0dRqSKJp4AJ6p9lMicMFs6Kvg==";

    #[test]
    fn secrets() {
        let generated = generate_secret();
        check_secret(&generated.to_string(), None);
        assert_ne!(generated, generate_secret());
        let prefix = Some("secret must start with whsec_ or whsk_");
        let base64 = Some("secret must be base64 after the whsec_ prefix");
        let length = Some("secret must encode 24 to 64 bytes");
        let padded_32 = format!("whsec_{}", STANDARD.encode([7u8; 32]));
        let cases = [
            ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(), None),
            (format!("whsec_{}", STANDARD.encode([7u8; 24])), None),
            (format!("whsec_{}", STANDARD.encode([7u8; 64])), None),
            (padded_32.clone(), None),
            (format!("whsec_{}", STANDARD.encode([7u8; 65])), length),
            (format!("whsec_{}", STANDARD.encode([7u8; 23])), length),
            ("whsec_".to_owned(), length),
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".to_owned(), prefix),
            ("".to_owned(), prefix),
            ("whsec_not base64!".to_owned(), base64),
            // Padding is required, as it always was here (the signing crate's lenient `parse`
            // would take this).
            (padded_32.trim_end_matches('=').to_owned(), base64),
            (SVIX_KEY_PAIR.to_owned(), None),
            (generate_asymmetric_secret().to_string(), None),
            (
                SVIX_KEY_PAIR.trim_end_matches('=').to_owned(),
                Some(
                    "a whsk_ secret must be a base64 ed25519 key pair: the key is not valid base64",
                ),
            ),
            (
                format!("whsk_{}", STANDARD.encode([7u8; 32])),
                Some(
                    "a whsk_ secret must be a base64 ed25519 key pair: the key is 32 bytes long; a whsk_ key pair is 64 bytes",
                ),
            ),
            (
                format!("whsk_{}", STANDARD.encode([7u8; 64])),
                Some(
                    "a whsk_ secret must be a base64 ed25519 key pair: the whsk_ key's public half does not belong to its secret half",
                ),
            ),
            (
                "whpk_1SiA4o9hyqTCpIqC5V9HUakiiaeACeqfZTInDBbOir4=".to_owned(),
                Some("a whpk_ public key cannot sign; give the whsk_ secret key"),
            ),
        ];
        for (raw, refusal) in cases {
            check_secret(&raw, refusal);
        }
    }
}
