//! `/api/v1/operational-webhook/endpoint`: the endpoints that receive hookd's own events
//! (`endpoint.*`, `message.attempt.*`; see `crate::operational`).
//!
//! Operational endpoints are endpoints of the internal operational application, so these
//! handlers are the endpoint handlers with `AppRef::Operational` for the application: the
//! operations let only the admin reach it, and under `/app` it does not exist.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::endpoint_secrets::{self, EndpointSecretOut, EndpointSecretRotateIn};
use super::endpoints::{self, EndpointIn, EndpointOut, EndpointPatch};
use super::error::ApiResult;
use super::json::ValidJson;
use super::pagination::{ListResponse, PageQuery};
use super::params::{ApiPath, QueryPart};
use super::scoped_routes::Scope::Admin;
use super::scoped_routes::{self, ScopedRoutes};
use super::{API_PREFIX, ApiContext};
use crate::ops::{AppRef, Principal};

const OPERATIONAL: AppRef<'static> = AppRef::Operational;

/// The operational webhook endpoints (`crate::operational`): endpoints of the internal
/// application, which only these routes reach.
pub fn routes() -> ScopedRoutes {
    ScopedRoutes::new(API_PREFIX)
        .route(
            "/operational-webhook/endpoint",
            scoped_routes::get(Admin, list).post(Admin, create),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}",
            scoped_routes::get(Admin, get)
                .put(Admin, update)
                .patch(Admin, patch)
                .delete(Admin, delete),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/secret",
            scoped_routes::get(Admin, get_secret),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
            scoped_routes::post(Admin, rotate_secret),
        )
}

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
