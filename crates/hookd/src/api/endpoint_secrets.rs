//! `.../endpoint/{endpoint_id}/secret`: read an endpoint's signing secret, and rotate it with
//! a grace period (`ops::endpoint_secrets`). Secrets are never logged. An ed25519 (`whsk_`)
//! secret is shown as its `whpk_` public key (`domain::shown_key`), as Svix shows it; the
//! rotate body's `keyType: "ed25519"` (a hookd extension) asks for a generated key pair.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::idempotency::AnswerHoldsSecrets;
use super::json::ValidJson;
use super::params::ApiPath;
use crate::domain::shown_key;
use crate::ops::endpoint_secrets::{self, generate_asymmetric_secret, parse_secret};
use crate::ops::{AppRef, Principal};

const DEFAULT_GRACE_PERIOD_SECONDS: i64 = 24 * 60 * 60;
const MAX_GRACE_PERIOD_SECONDS: i64 = 7 * 24 * 60 * 60;

/// `{"key": "whsec_..."}` (or `{"key": "whpk_..."}`, the public key of an ed25519 secret),
/// the body of `GET .../secret`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EndpointSecretOut {
    pub key: String,
}

/// The body of `POST .../secret/rotate`; every field is optional and so is the body.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSecretRotateIn {
    /// A `whsec_` secret or a `whsk_` ed25519 key pair; generated when absent.
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub grace_period_seconds: Option<i64>,
    /// hookd extension: the kind of secret to generate when `key` is absent, `hmac`
    /// (the default) or `ed25519`.
    #[serde(default)]
    pub key_type: Option<KeyType>,
}

/// The kinds of secret `keyType` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyType {
    Hmac,
    Ed25519,
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/secret`: the current secret.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    get_in(&ctx, &principal, AppRef::Named(&app_id), &endpoint_id).await
}

/// The current secret of an endpoint of `app` (an application's or an operational one).
pub async fn get_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
) -> ApiResult<Json<EndpointSecretOut>> {
    let key = endpoint_secrets::current(&ctx.ops, principal, app, endpoint_id).await?;
    Ok(Json(EndpointSecretOut {
        key: shown_key(&key),
    }))
}

/// The answer to a rotation: the new secret, which an `Idempotency-Key` keeps sealed.
pub type RotatedSecret = (Extension<AnswerHoldsSecrets>, Json<EndpointSecretOut>);

/// `POST /app/{app_id}/endpoint/{endpoint_id}/secret/rotate`: makes the given (or a new)
/// secret current and answers with it. The SDK parses the answer as `EndpointSecretOut`, so it
/// must carry `key` (an empty 204 or `{}` breaks it).
pub async fn rotate(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    input: Option<ValidJson<EndpointSecretRotateIn>>,
) -> ApiResult<RotatedSecret> {
    rotate_in(
        &ctx,
        &principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        input,
    )
    .await
}

/// Rotates the secret of an endpoint of `app`.
pub async fn rotate_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
    input: Option<ValidJson<EndpointSecretRotateIn>>,
) -> ApiResult<RotatedSecret> {
    let input = input.map(|ValidJson(input)| input).unwrap_or_default();
    let new_key = match (input.key, input.key_type) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_body(
                &["keyType"],
                "give key or keyType, not both",
            ));
        }
        (Some(raw), None) => Some(parse_secret(&raw, &["key"])?),
        (None, Some(KeyType::Ed25519)) => Some(generate_asymmetric_secret()),
        (None, Some(KeyType::Hmac) | None) => None,
    };
    let grace = parse_grace_period(input.grace_period_seconds)?;
    let key =
        endpoint_secrets::rotate(&ctx.ops, principal, app, endpoint_id, new_key, grace).await?;
    Ok((
        Extension(AnswerHoldsSecrets),
        Json(EndpointSecretOut {
            key: shown_key(&key),
        }),
    ))
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
