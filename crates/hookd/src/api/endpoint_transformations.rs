//! An endpoint's transformation over HTTP (Svix's `endpoint.transformation.get`/`patch`):
//! `GET|PATCH /app/{app_id}/endpoint/{endpoint_id}/transformation`, and the ingest twins under
//! `/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation`, which call the
//! same operations with `AppRef::Source`. Code that cannot run is a 422 on `code` with the
//! sandbox's reason (`ops::transformations::patch` compiles it first).

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::ApiResult;
use super::json::ValidJson;
use super::params::ApiPath;
use super::patch::Patch;
use crate::domain::Timestamp;
use crate::ops::transformations::{self, TransformationPatch};
use crate::ops::{AppRef, Principal};
use crate::store::StoredTransformation;

/// Svix's `EndpointTransformationOut`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationOut {
    pub code: Option<String>,
    pub enabled: bool,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub updated_at: Option<Timestamp>,
}

impl From<StoredTransformation> for EndpointTransformationOut {
    fn from(stored: StoredTransformation) -> Self {
        EndpointTransformationOut {
            code: stored.code,
            enabled: stored.enabled,
            updated_at: stored.updated_at,
        }
    }
}

/// Svix's `EndpointTransformationPatch`: an absent field is kept, `code: null` removes the code.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointTransformationPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub code: Patch<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Not supported by hookd: a non-empty map is refused.
    #[serde(default)]
    pub variables: Option<BTreeMap<String, String>>,
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/transformation`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointTransformationOut>> {
    get_in(&ctx, &principal, AppRef::Named(&app_id), &endpoint_id).await
}

/// `PATCH /app/{app_id}/endpoint/{endpoint_id}/transformation`.
pub async fn patch(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointTransformationPatch>,
) -> ApiResult<StatusCode> {
    patch_in(
        &ctx,
        &principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        input,
    )
    .await
}

/// `GET /ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation`.
pub async fn get_ingest(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointTransformationOut>> {
    get_in(&ctx, &principal, AppRef::Source(&source_id), &endpoint_id).await
}

/// `PATCH /ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation`.
pub async fn patch_ingest(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointTransformationPatch>,
) -> ApiResult<StatusCode> {
    patch_in(
        &ctx,
        &principal,
        AppRef::Source(&source_id),
        &endpoint_id,
        input,
    )
    .await
}

async fn get_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
) -> ApiResult<Json<EndpointTransformationOut>> {
    let stored = transformations::get(&ctx.ops, principal, app, endpoint_id).await?;
    Ok(Json(stored.into()))
}

async fn patch_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
    ValidJson(input): ValidJson<EndpointTransformationPatch>,
) -> ApiResult<StatusCode> {
    let patch = TransformationPatch {
        code: match input.code {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(code) => Some(Some(code)),
        },
        enabled: input.enabled,
        variables: input.variables,
    };
    transformations::patch(&ctx.ops, principal, app, endpoint_id, patch).await?;
    Ok(StatusCode::NO_CONTENT)
}
