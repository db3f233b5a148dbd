//! An endpoint's signing secret: what a valid one is, reading the current one, and rotating it
//! with a grace period.
//!
//! During the grace period the old secret keeps signing next to the new one (deliveries carry
//! one signature per active secret), so a receiver can switch keys without rejecting anything.
//! Secrets are never logged.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::scope::{self, AppRef};
use super::{OpError, OpResult, Ops, Principal};

const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (Svix uses 24).
const GENERATED_SECRET_BYTES: usize = 24;
/// Accepted sizes, in bytes, of a caller-supplied secret.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;

/// The endpoint's current secret.
pub async fn current(
    ops: &Ops,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint: &str,
) -> OpResult<String> {
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
    new_key: Option<String>,
    grace: chrono::Duration,
) -> OpResult<String> {
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
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::fill(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// Accepts a caller-supplied secret: `whsec_` followed by standard base64 of 24 to 64 bytes.
/// `field` locates the value in the request body. The value itself is never echoed back.
pub fn parse_secret(raw: &str, field: &[&str]) -> OpResult<String> {
    let encoded = raw.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        OpError::invalid_body(field, format!("secret must start with {SECRET_PREFIX}"))
    })?;
    let decoded = STANDARD.decode(encoded).map_err(|_| {
        OpError::invalid_body(field, "secret must be base64 after the whsec_ prefix")
    })?;
    if !SECRET_BYTES.contains(&decoded.len()) {
        return Err(OpError::invalid_body(
            field,
            format!(
                "secret must encode {} to {} bytes",
                SECRET_BYTES.start(),
                SECRET_BYTES.end()
            ),
        ));
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_secret(raw: &str, ok: bool) {
        assert_eq!(parse_secret(raw, &["secret"]).is_ok(), ok, "{raw}");
    }

    #[test]
    fn secrets() {
        let generated = generate_secret();
        check_secret(&generated, true);
        assert_ne!(generated, generate_secret());
        check_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", true);
        check_secret(&format!("whsec_{}", STANDARD.encode([7u8; 64])), true);
        check_secret(&format!("whsec_{}", STANDARD.encode([7u8; 65])), false);
        check_secret(&format!("whsec_{}", STANDARD.encode([7u8; 23])), false);
        check_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false);
        check_secret("whsec_not base64!", false);
    }
}
