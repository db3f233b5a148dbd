//! An endpoint's signing secret: read it, and rotate it with a grace period.
//!
//! During the grace period the old secret keeps signing next to the new one (deliveries carry
//! one signature per active secret), so a receiver can switch keys without rejecting anything.
//! Secrets are never logged.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use webhook_signature::standard::{MAX_SECRET_LEN, MIN_SECRET_LEN};
use webhook_signature::{Secret, SecretError};

use super::ApiContext;
use super::endpoints::find_endpoint;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::params::ApiPath;

const SECRET_PREFIX: &str = "whsec_";
/// Random bytes in a generated secret (Svix uses 24).
const GENERATED_SECRET_BYTES: usize = 24;
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
    Ok(Json(EndpointSecretOut {
        key: current.key.to_string(),
    }))
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
    Ok(Json(EndpointSecretOut {
        key: new_key.to_string(),
    }))
}

/// A new random secret of 24 bytes from the thread's CSPRNG.
pub fn generate_secret() -> Secret {
    let mut bytes = [0u8; GENERATED_SECRET_BYTES];
    rand::fill(&mut bytes);
    Secret::generate(&bytes).expect("24 bytes is a valid secret length")
}

/// Accepts a caller-supplied secret: `whsec_` followed by padded standard base64 of 24 to 64
/// bytes (`Secret::parse_whsec`, which shows it back exactly as given). `field` locates the
/// value in 422 errors. The value itself is never echoed back.
pub fn parse_secret(raw: &str, field: &[&str]) -> ApiResult<Secret> {
    Secret::parse_whsec(raw).map_err(|error| {
        let message = match error {
            SecretError::MissingPrefix => format!("secret must start with {SECRET_PREFIX}"),
            SecretError::InvalidBase64(_) => {
                "secret must be base64 after the whsec_ prefix".to_owned()
            }
            SecretError::InvalidLength { .. } => {
                format!("secret must encode {MIN_SECRET_LEN} to {MAX_SECRET_LEN} bytes")
            }
        };
        ApiError::invalid_body(field, message)
    })
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

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;

    /// `None`: accepted and shown back exactly as given; `Some`: the 422's message.
    fn check_secret(raw: &str, refusal: Option<&str>) {
        match parse_secret(raw, &["secret"]) {
            Ok(secret) => {
                assert_eq!(refusal, None, "{raw} was accepted");
                assert_eq!(secret.to_string(), raw);
            }
            Err(ApiError::Validation(errors)) => {
                let messages: Vec<&str> = errors.iter().map(|error| error.msg.as_str()).collect();
                assert_eq!(messages, refusal.into_iter().collect::<Vec<_>>(), "{raw}");
            }
            Err(other) => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn secrets() {
        let generated = generate_secret();
        check_secret(&generated.to_string(), None);
        assert_ne!(generated, generate_secret());
        let prefix = Some("secret must start with whsec_");
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
        ];
        for (raw, refusal) in cases {
            check_secret(&raw, refusal);
        }
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
