//! `/api/v1/operational-webhook/endpoint`: the endpoints that receive hookd's own events
//! (`endpoint.*`, `message.attempt.*`; see `crate::domain::operational`).
//!
//! Operational endpoints are endpoints of the internal operational application, so these
//! handlers are the endpoint handlers with that application filled in. They run with an
//! `ApiContext` whose `operational_scope` is set: only there is the internal application
//! visible; under `/app` it does not exist.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use super::ApiContext;
use super::endpoint_secrets::{self, EndpointSecretOut, EndpointSecretRotateIn};
use super::endpoints::{self, EndpointIn, EndpointOut, EndpointPatch};
use super::error::ApiResult;
use super::json::ValidJson;
use super::pagination::ListResponse;
use super::params::{ApiPath, QueryParams};
use crate::domain::operational::OPERATIONAL_APP_ID;

fn app() -> ApiPath<String> {
    ApiPath(OPERATIONAL_APP_ID.to_owned())
}

fn endpoint(endpoint_id: String) -> ApiPath<(String, String)> {
    ApiPath((OPERATIONAL_APP_ID.to_owned(), endpoint_id))
}

pub async fn list(
    ctx: State<ApiContext>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    endpoints::list(ctx, app(), query).await
}

pub async fn create(
    ctx: State<ApiContext>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    endpoints::create(ctx, app(), input).await
}

pub async fn get(
    ctx: State<ApiContext>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<Json<EndpointOut>> {
    endpoints::get(ctx, endpoint(endpoint_id)).await
}

pub async fn update(
    ctx: State<ApiContext>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    endpoints::update(ctx, endpoint(endpoint_id), input).await
}

pub async fn patch(
    ctx: State<ApiContext>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    endpoints::patch(ctx, endpoint(endpoint_id), input).await
}

pub async fn delete(
    ctx: State<ApiContext>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    endpoints::delete(ctx, endpoint(endpoint_id)).await
}

pub async fn get_secret(
    ctx: State<ApiContext>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<Json<EndpointSecretOut>> {
    endpoint_secrets::get(ctx, endpoint(endpoint_id)).await
}

pub async fn rotate_secret(
    ctx: State<ApiContext>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: Option<ValidJson<EndpointSecretRotateIn>>,
) -> ApiResult<Json<EndpointSecretOut>> {
    endpoint_secrets::rotate(ctx, endpoint(endpoint_id), input).await
}
