//! An endpoint's signing secret: read it, and rotate it with a grace period.
//!
//! During the grace period the old secret keeps signing next to the new one (deliveries carry
//! one signature per active secret), so a receiver can switch keys without rejecting anything.
//! Secrets are never logged.

use axum::Json;
use axum::extract::State;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::endpoints::find_endpoint;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::params::ApiPath;

const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (Svix uses 24).
const GENERATED_SECRET_BYTES: usize = 24;
/// Accepted sizes, in bytes, of a caller-supplied secret.
const SECRET_BYTES: std::ops::RangeInclusive<usize> = 24..=64;
const DEFAULT_GRACE_PERIOD_SECONDS: i64 = 24 * 60 * 60;
const MAX_GRACE_PERIOD_SECONDS: i64 = 7 * 24 * 60 * 60;

/// `{"key": "whsec_..."}`, the body of `GET .../secret`.
#[derive(Debug, Serialize)]
pub struct EndpointSecretOut {
    pub key: String,
}

/// The body of `POST .../secret/rotate`; every field is optional and so is the body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/secret`: the current secret.
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let (_, endpoint) = find_endpoint(&ctx, &app_id, &endpoint_id).await?;
    let secrets = ctx
        .store
        .endpoint_secrets(&endpoint.id, ctx.clock.now())
        .await?;
    let current = secrets
        .into_iter()
        .next()
        .ok_or(ApiError::Internal("an endpoint has no current secret"))?;
    Ok(Json(EndpointSecretOut { key: current.key }))
}

/// `POST /app/{app_id}/endpoint/{endpoint_id}/secret/rotate`: makes the given (or a new)
/// secret current and answers with it. The SDK parses the answer as `EndpointSecretOut`, so it
/// must carry `key` (an empty 204 or `{}` breaks it).
pub async fn rotate(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    input: Option<ValidJson<EndpointSecretRotateIn>>,
) -> ApiResult<Json<EndpointSecretOut>> {
    let input = input.map(|ValidJson(input)| input).unwrap_or_default();
    let new_key = match input.key {
        Some(raw) => parse_secret(&raw, &["key"])?,
        None => generate_secret(),
    };
    let grace = parse_grace_period(input.grace_period_seconds)?;
    let (app, endpoint) = find_endpoint(&ctx, &app_id, &endpoint_id).await?;
    let now = ctx.clock.now();
    ctx.store
        .rotate_endpoint_secret(&endpoint.id, new_key.clone(), now + grace, now)
        .await?;
    tracing::info!(
        app_id = %app.id,
        endpoint_id = %endpoint.id,
        grace_period_seconds = grace.num_seconds(),
        "endpoint secret rotated"
    );
    Ok(Json(EndpointSecretOut { key: new_key }))
}

/// A new random secret, `whsec_` + base64 of 24 bytes from the thread's CSPRNG.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::fill(&mut bytes);
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

/// Accepts a caller-supplied secret: `whsec_` followed by standard base64 of 24 to 64 bytes.
/// `field` locates the value in 422 errors. The value itself is never echoed back.
pub fn parse_secret(raw: &str, field: &[&str]) -> ApiResult<String> {
    let encoded = raw.strip_prefix(SECRET_PREFIX).ok_or_else(|| {
        ApiError::invalid_body(field, format!("secret must start with {SECRET_PREFIX}"))
    })?;
    let decoded = STANDARD.decode(encoded).map_err(|_| {
        ApiError::invalid_body(field, "secret must be base64 after the whsec_ prefix")
    })?;
    if !SECRET_BYTES.contains(&decoded.len()) {
        return Err(ApiError::invalid_body(
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

fn parse_grace_period(seconds: Option<i64>) -> ApiResult<chrono::Duration> {
    let seconds = seconds.unwrap_or(DEFAULT_GRACE_PERIOD_SECONDS);
    if !(0..=MAX_GRACE_PERIOD_SECONDS).contains(&seconds) {
        return Err(ApiError::invalid_body(
            &["gracePeriodSeconds"],
            format!("gracePeriodSeconds must be between 0 and {MAX_GRACE_PERIOD_SECONDS}"),
        ));
    }
    Ok(chrono::Duration::seconds(seconds))
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

    #[test]
    fn grace_periods() {
        assert_eq!(parse_grace_period(None).unwrap().num_hours(), 24);
        assert_eq!(parse_grace_period(Some(0)).unwrap().num_seconds(), 0);
        assert_eq!(
            parse_grace_period(Some(MAX_GRACE_PERIOD_SECONDS))
                .unwrap()
                .num_days(),
            7
        );
        assert!(parse_grace_period(Some(-1)).is_err());
        assert!(parse_grace_period(Some(MAX_GRACE_PERIOD_SECONDS + 1)).is_err());
    }
}
