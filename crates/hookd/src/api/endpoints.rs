//! `/api/v1/app/{app_id}/endpoint`: the URLs that receive an application's messages.
//!
//! Every URL set here passes the SSRF guard first (`endpoint_targets`). Secrets and custom
//! headers have their own calls, in `endpoint_secrets` and `endpoint_headers`. hookd's own
//! delivery options (`maxInFlight`, `ordered`, `retrySchedule`, `auth`) are parsed and rendered
//! by `endpoint_delivery_options`; outbound credentials are never rendered back. The content
//! `filter` (`domain::content_filter`) is parsed in `input` and rendered as it was written.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;

use super::ApiContext;
use super::endpoint_delivery_options::OutboundAuthOut;
use super::endpoint_targets::parse_url;
use super::error::ApiResult;
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, OpenQuery, QueryPart};
use super::patch::{Patch, refuse};
use crate::domain::{ChannelName, Endpoint, EndpointId, EventTypeName, Metadata, Timestamp, Uid};
use crate::ops::{AppRef, Named, Principal, Upserted, endpoints};
use crate::policy::ssrf::TargetPolicy;
use crate::store::{EndpointChange, Order};

/// An endpoint as Svix renders it (`EndpointOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointOut {
    pub id: EndpointId,
    pub url: String,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<Uid>,
    pub version: u32,
    pub disabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_types: Option<Vec<EventTypeName>>,
    /// The older name of `eventTypes`, for older clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_types: Option<Vec<EventTypeName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub throttle_rate: Option<u32>,
    /// The older name of `throttleRate`, for older clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<u32>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub metadata: Metadata,
    /// hookd extension; absent when the server's cap applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// hookd extension.
    pub ordered: bool,
    /// hookd extension, written as the server flag is; absent when the server's applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_schedule: Option<String>,
    /// hookd extension: the credentials' type (and basic-auth username), never the secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<OutboundAuthOut>,
    /// hookd extension: the content filter as it was written; absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub filter: Option<serde_json::Value>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

impl From<Endpoint> for EndpointOut {
    fn from(endpoint: Endpoint) -> Self {
        let fields = endpoint.fields;
        EndpointOut {
            id: endpoint.id,
            url: fields.url.as_str().to_owned(),
            description: fields.description,
            uid: fields.uid,
            version: fields.version,
            disabled: fields.disabled,
            filter_types: fields.event_types.clone(),
            event_types: fields.event_types,
            channels: fields.channels,
            throttle_rate: fields.throttle_rate,
            rate_limit: fields.throttle_rate,
            metadata: fields.metadata,
            max_in_flight: fields.delivery.max_in_flight,
            ordered: fields.delivery.ordered,
            retry_schedule: fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            auth: fields.delivery.auth.as_ref().map(OutboundAuthOut::from),
            filter: fields.filter.map(|filter| filter.as_json().clone()),
            created_at: endpoint.created_at,
            updated_at: endpoint.updated_at,
        }
    }
}

/// `POST /app/{app_id}/endpoint`: 201 with the new endpoint; a secret is generated unless the
/// body brings one.
pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    create_in(&ctx, &principal, AppRef::Named(&app_id), input).await
}

/// Creates an endpoint of `app` (an application's, or an operational one).
pub async fn create_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    ValidJson(mut input): ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let secret = input.secret.take();
    let fields = input.into_fields(&ctx.ops.target_policy, KeptFields::default());
    let fields = input_after_lookup(ctx, principal, Named::app(app), fields).await?;
    let endpoint = endpoints::create(&ctx.ops, principal, app, fields, secret).await?;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// `GET /app/{app_id}/endpoint`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    list_in(&ctx, &principal, AppRef::Named(&app_id), query).await
}

/// A page of `app`'s endpoints.
pub async fn list_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let page = input_after_lookup(ctx, principal, Named::app(app), query.open())
        .await?
        .request(Order::Ascending);
    let endpoints = endpoints::list(&ctx.ops, principal, app, page).await?;
    Ok(Json(render_page(endpoints, EndpointOut::from)))
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    get_in(&ctx, &principal, AppRef::Named(&app_id), &endpoint_id).await
}

/// One endpoint of `app`.
pub async fn get_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
) -> ApiResult<Json<EndpointOut>> {
    let endpoint = endpoints::get(&ctx.ops, principal, app, endpoint_id).await?;
    Ok(Json(endpoint.into()))
}

/// `PUT /app/{app_id}/endpoint/{endpoint_id}`: the SDK's `upsert`. An existing endpoint gets
/// every field replaced but its secret, its headers (unless the body has them) and its uid
/// (unless the body has one, so an endpoint addressed by its uid stays reachable under it).
/// A missing one is created (201) with the path as its uid, as for applications.
pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    update_in(
        &ctx,
        &principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        input,
    )
    .await
}

/// The PUT of an endpoint of `app`.
pub async fn update_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
    ValidJson(mut input): ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let secret = input.secret.take();
    let policy = ctx.ops.target_policy;
    let created_fields = input.clone().into_fields(&policy, KeptFields::default());
    let created_fields =
        input_after_lookup(ctx, principal, Named::app(app), created_fields).await?;
    let replace = || replace_fields(input.clone(), policy);
    let upserted = endpoints::upsert(
        &ctx.ops,
        principal,
        app,
        endpoint_id,
        created_fields,
        secret,
        replace,
    )
    .await?;
    Ok(match upserted {
        Upserted::Created(endpoint) => (StatusCode::CREATED, Json(endpoint.into())),
        Upserted::Existing(endpoint) => (StatusCode::OK, Json(endpoint.into())),
    })
}

/// The full update of a PUT, applied to the endpoint as it is inside the write.
fn replace_fields(input: EndpointIn, policy: TargetPolicy) -> EndpointChange {
    Box::new(move |current| {
        let kept = KeptFields {
            headers: current.fields.headers.clone(),
            filter: current.fields.filter.clone(),
            delivery: current.fields.delivery.clone(),
        };
        let mut fields = input.into_fields(&policy, kept).map_err(refuse)?;
        if fields.uid.is_none() {
            fields.uid = current.fields.uid.clone();
        }
        Ok(fields)
    })
}

/// `PATCH /app/{app_id}/endpoint/{endpoint_id}`: the merge runs on the endpoint as it is inside
/// the write, so concurrent PATCHes of different fields all keep their change.
pub async fn patch(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    patch_in(
        &ctx,
        &principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        input,
    )
    .await
}

/// The PATCH of an endpoint of `app`.
pub async fn patch_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
    ValidJson(input): ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let policy = ctx.ops.target_policy;
    // A new URL's host is checked before the write, since the check resolves DNS.
    let new_url = match &input.url {
        Patch::Value(raw) => Some(parse_url(raw, &policy)),
        _ => None,
    }
    .transpose();
    // As before the operations layer: a missing application is 404 however bad the URL, and
    // a missing endpoint with a bad URL is 422 (the endpoint is read inside the write).
    let new_url = input_after_lookup(ctx, principal, Named::app(app), new_url).await?;
    let change: EndpointChange = Box::new(move |current| {
        input
            .merge_into(current.fields.clone(), &policy)
            .map_err(refuse)
    });
    let updated = endpoints::modify(
        &ctx.ops,
        principal,
        app,
        endpoint_id,
        new_url.as_ref(),
        change,
    )
    .await?;
    Ok(Json(updated.into()))
}

/// `DELETE /app/{app_id}/endpoint/{endpoint_id}`.
pub async fn delete(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    delete_in(&ctx, &principal, AppRef::Named(&app_id), &endpoint_id).await
}

/// Deletes an endpoint of `app`.
pub async fn delete_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
) -> ApiResult<StatusCode> {
    endpoints::delete(&ctx.ops, principal, app, endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

mod input;

pub use input::{EndpointIn, EndpointPatch, KeptFields};

#[cfg(test)]
mod tests;
