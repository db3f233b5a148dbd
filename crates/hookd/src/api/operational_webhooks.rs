//! `/api/v1/operational-webhook/endpoint`: the endpoints that receive hookd's own events
//! (`endpoint.*`, `message.attempt.*`; see `crate::operational`).
//!
//! Operational endpoints are endpoints of the internal operational application, so these
//! handlers are the endpoint handlers with `AppRef::Operational` for the application: the
//! operations let only the admin reach it, and under `/app` it does not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::ApiContext;
use super::endpoint_secrets::{self, EndpointSecretOut, EndpointSecretRotateIn};
use super::endpoints::{self, EndpointIn, EndpointOut, EndpointPatch};
use super::error::ApiResult;
use super::json::ValidJson;
use super::pagination::{ListResponse, PageQuery};
use super::params::{ApiPath, QueryPart};
use crate::ops::{AppRef, Principal};

const OPERATIONAL: AppRef<'static> = AppRef::Operational;

pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    endpoints::list_in(&ctx, &principal, OPERATIONAL, query).await
}

pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    endpoints::create_in(&ctx, &principal, OPERATIONAL, input).await
}

pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<Json<EndpointOut>> {
    endpoints::get_in(&ctx, &principal, OPERATIONAL, &endpoint_id).await
}

pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    endpoints::update_in(&ctx, &principal, OPERATIONAL, &endpoint_id, input).await
}

pub async fn patch(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    endpoints::patch_in(&ctx, &principal, OPERATIONAL, &endpoint_id, input).await
}

pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    endpoints::delete_in(&ctx, &principal, OPERATIONAL, &endpoint_id).await
}

pub async fn get_secret(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<Json<EndpointSecretOut>> {
    endpoint_secrets::get_in(&ctx, &principal, OPERATIONAL, &endpoint_id).await
}

pub async fn rotate_secret(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: Option<ValidJson<EndpointSecretRotateIn>>,
) -> ApiResult<Json<EndpointSecretOut>> {
    endpoint_secrets::rotate_in(&ctx, &principal, OPERATIONAL, &endpoint_id, input).await
}
