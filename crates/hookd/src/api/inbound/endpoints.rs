//! `/ingest/api/v1/source/{source_id}/endpoint`: a source's ingest endpoints, where its
//! accepted requests are forwarded. They are endpoints of the source's internal application,
//! so these handlers are the endpoint handlers with `AppRef::Source` (admin only).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use crate::api::ApiContext;
use crate::api::endpoint_headers::{self, EndpointHeadersIn, EndpointHeadersOut};
use crate::api::endpoint_secrets::{self, EndpointSecretOut, EndpointSecretRotateIn};
use crate::api::endpoints::{self, EndpointIn, EndpointOut};
use crate::api::error::ApiResult;
use crate::api::json::ValidJson;
use crate::api::pagination::{ListResponse, PageQuery};
use crate::api::params::{ApiPath, QueryPart};
use crate::ops::{AppRef, Principal};

pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(source_id): ApiPath<String>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    endpoints::list_in(&ctx, &principal, AppRef::Source(&source_id), query).await
}

pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(source_id): ApiPath<String>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    endpoints::create_in(&ctx, &principal, AppRef::Source(&source_id), input).await
}

pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    endpoints::get_in(&ctx, &principal, AppRef::Source(&source_id), &endpoint_id).await
}

pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    endpoints::update_in(
        &ctx,
        &principal,
        AppRef::Source(&source_id),
        &endpoint_id,
        input,
    )
    .await
}

pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    endpoints::delete_in(&ctx, &principal, AppRef::Source(&source_id), &endpoint_id).await
}

pub async fn get_secret(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointSecretOut>> {
    endpoint_secrets::get_in(&ctx, &principal, AppRef::Source(&source_id), &endpoint_id).await
}

pub async fn rotate_secret(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
    input: Option<ValidJson<EndpointSecretRotateIn>>,
) -> ApiResult<endpoint_secrets::RotatedSecret> {
    endpoint_secrets::rotate_in(
        &ctx,
        &principal,
        AppRef::Source(&source_id),
        &endpoint_id,
        input,
    )
    .await
}

pub async fn get_headers(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    endpoint_headers::get_in(&ctx, &principal, AppRef::Source(&source_id), &endpoint_id).await
}

pub async fn update_headers(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    endpoint_headers::update_in(
        &ctx,
        &principal,
        AppRef::Source(&source_id),
        &endpoint_id,
        input,
    )
    .await
}
