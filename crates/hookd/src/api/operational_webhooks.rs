//! `/api/v1/operational-webhook/endpoint`: the endpoints that receive hookd's own events
//! (`endpoint.*`, `message.attempt.*`; see `crate::operational`).
//!
//! Operational endpoints are endpoints of the internal operational application, so these
//! handlers are the endpoint handlers with `AppRef::Operational` for the application: the
//! operations let only the admin reach it, and under `/app` it does not exist. Their custom
//! headers (Svix `operational_webhook.endpoint.get_headers`/`set_headers`) are an endpoint's.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};

use super::endpoint_headers::{self, EndpointHeadersIn, EndpointHeadersOut};
use super::endpoint_secrets::{self, EndpointSecretOut, EndpointSecretRotateIn};
use super::endpoints::{self, EndpointIn, EndpointOut, EndpointPatch};
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::pagination::{ListResponse, PageQuery};
use super::params::{ApiPath, QueryPart};
use super::scoped_routes::Scope::Admin;
use super::scoped_routes::{self, ScopedRoutes};
use super::{API_PREFIX, ApiContext};
use crate::ops::{AppRef, Named, Principal};

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
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/headers",
            scoped_routes::get(Admin, get_headers).put(Admin, set_headers),
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
) -> ApiResult<endpoint_secrets::RotatedSecret> {
    endpoint_secrets::rotate_in(&ctx, &principal, OPERATIONAL, &endpoint_id, input).await
}

/// `GET .../headers` (Svix `OperationalWebhookEndpointHeadersOut`, the shape of an application
/// endpoint's): credential headers only named in `sensitive`.
pub async fn get_headers(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    endpoint_headers::get_in(&ctx, &principal, OPERATIONAL, &endpoint_id).await
}

/// `PUT .../headers`: replaces every custom header, under an application endpoint's rules
/// (`domain::endpoint_headers`); they are sealed at rest and sent with every operational
/// event delivered to the endpoint.
pub async fn set_headers(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(endpoint_id): ApiPath<String>,
    input: Result<ValidJson<EndpointHeadersIn>, ApiError>,
) -> ApiResult<StatusCode> {
    // The header rules are judged here too, so that a missing endpoint is answered first.
    let checked = input.and_then(|ValidJson(body)| {
        endpoint_headers::parse_headers(body.headers.clone(), &["headers"])?;
        Ok(ValidJson(body))
    });
    let named = Named::endpoint(OPERATIONAL, &endpoint_id);
    let input = input_after_lookup(&ctx, &principal, named, checked).await?;
    endpoint_headers::update_in(&ctx, &principal, OPERATIONAL, &endpoint_id, input).await
}
