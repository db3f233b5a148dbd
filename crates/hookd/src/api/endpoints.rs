//! `/api/v1/app/{app_id}/endpoint`: the URLs that receive an application's messages.
//!
//! Every URL set here passes the SSRF guard first (`endpoint_targets`). Secrets and custom
//! headers have their own calls, in `endpoint_secrets` and `endpoint_headers`. hookd's own
//! delivery options (`maxInFlight`, `ordered`, `retrySchedule`, `auth`) are parsed and rendered
//! by `endpoint_delivery_options`; outbound credentials are never rendered back.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::endpoint_delivery_options::{
    OutboundAuthIn, OutboundAuthOut, parse_auth, parse_max_in_flight, parse_retry_schedule,
};
use super::endpoint_headers::parse_headers;
use super::endpoint_targets::parse_url;
use super::error::{ApiError, ApiResult};
use super::input_limits;
use super::json::ValidJson;
use super::pagination::{ListResponse, page_request, render_page};
use super::params::{ApiPath, QueryParams};
use super::patch::{Patch, refuse};
use crate::domain::limits::DESCRIPTION;
use crate::domain::{
    ChannelName, DeliveryOptions, Endpoint, EndpointFields, EndpointId, EventTypeName, Metadata,
    Timestamp, Uid,
};
use crate::ops::{AppRef, Principal, Upserted, endpoints};
use crate::policy::ssrf::TargetPolicy;
use crate::store::{EndpointChange, Order};

/// Most channels an endpoint may subscribe to (Svix's limit).
const MAX_CHANNELS: usize = 10;

/// The body of create and full update (Svix `EndpointIn` / `EndpointUpdate`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointIn {
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub disabled: Option<bool>,
    #[serde(default, alias = "filterTypes")]
    pub event_types: Option<Vec<String>>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u32>,
    #[serde(default)]
    pub metadata: Option<Metadata>,
    /// Only read on create; a full update never changes the secret.
    #[serde(default)]
    pub secret: Option<String>,
    /// Replaces the custom headers when present; absent keeps them on update.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
    /// hookd extension: most attempts in flight to this endpoint; absent uses the server's.
    #[serde(default)]
    pub max_in_flight: Option<i64>,
    /// hookd extension: FIFO delivery; absent means unordered.
    #[serde(default)]
    pub ordered: Option<bool>,
    /// hookd extension: this endpoint's retry schedule; absent uses the server's.
    #[serde(default)]
    pub retry_schedule: Option<String>,
    /// hookd extension: credentials for the `Authorization` header; absent means none.
    #[serde(default)]
    pub auth: Option<OutboundAuthIn>,
}

impl EndpointIn {
    /// Parses everything but the secret. The custom headers and hookd's delivery options are
    /// kept from `current` when the body leaves them out, so a Svix client's full update (which
    /// knows nothing of them) does not wipe them.
    pub fn into_fields(
        self,
        policy: &TargetPolicy,
        current: KeptFields,
    ) -> ApiResult<EndpointFields> {
        let kept = current.delivery;
        Ok(EndpointFields {
            url: parse_url(&self.url, policy)?,
            uid: self
                .uid
                .map(|uid| Uid::parse(&uid))
                .transpose()
                .map_err(|error| ApiError::invalid_input(&["uid"], error))?,
            description: input_limits::optional_text(
                self.description,
                DESCRIPTION,
                &["description"],
            )?
            .unwrap_or_default(),
            version: parse_version(self.version)?,
            disabled: self.disabled.unwrap_or(false),
            event_types: parse_event_types(self.event_types)?,
            channels: parse_channels(self.channels)?,
            throttle_rate: input_limits::optional_throttle_rate(
                self.throttle_rate,
                &["throttleRate"],
            )?,
            metadata: input_limits::metadata(self.metadata.unwrap_or_default(), &["metadata"])?,
            headers: match self.headers {
                Some(headers) => parse_headers(headers, &["headers"])?,
                None => current.headers,
            },
            delivery: DeliveryOptions {
                max_in_flight: match self.max_in_flight {
                    Some(value) => Some(parse_max_in_flight(value)?),
                    None => kept.max_in_flight,
                },
                ordered: self.ordered.unwrap_or(kept.ordered),
                retry_schedule: match self.retry_schedule.as_deref() {
                    Some(written) => Some(parse_retry_schedule(written)?),
                    None => kept.retry_schedule,
                },
                auth: match self.auth {
                    Some(auth) => Some(parse_auth(auth)?),
                    None => kept.auth,
                },
            },
        })
    }
}

/// What a full update keeps from the endpoint when the body leaves it out; empty on create.
#[derive(Debug, Default)]
pub struct KeptFields {
    pub headers: BTreeMap<String, String>,
    pub delivery: DeliveryOptions,
}

/// The body of PATCH: only present fields change; `null` resets a field to its default.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    #[serde(default)]
    pub url: Patch<String>,
    #[serde(default)]
    pub description: Patch<String>,
    #[serde(default)]
    pub uid: Patch<String>,
    #[serde(default)]
    pub version: Patch<u32>,
    #[serde(default)]
    pub disabled: Patch<bool>,
    #[serde(default, alias = "filterTypes")]
    pub event_types: Patch<Vec<String>>,
    #[serde(default)]
    pub channels: Patch<Vec<String>>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Patch<u32>,
    #[serde(default)]
    pub metadata: Patch<Metadata>,
    #[serde(default)]
    pub max_in_flight: Patch<i64>,
    #[serde(default)]
    pub ordered: Patch<bool>,
    #[serde(default)]
    pub retry_schedule: Patch<String>,
    #[serde(default)]
    pub auth: Patch<OutboundAuthIn>,
}

impl EndpointPatch {
    /// The merged fields. A new URL's host is checked by the operation, before the write.
    pub fn merge_into(
        self,
        current: EndpointFields,
        policy: &TargetPolicy,
    ) -> ApiResult<EndpointFields> {
        let url = match self.url {
            Patch::Absent => None,
            Patch::Null => return Err(ApiError::invalid_body(&["url"], "url cannot be null")),
            Patch::Value(raw) => Some(parse_url(&raw, policy)?),
        };
        let uid = self
            .uid
            .try_map(|uid| Uid::parse(&uid))
            .map_err(|error| ApiError::invalid_input(&["uid"], error))?;
        let version = self
            .version
            .try_map(|version| parse_version(Some(version)))?;
        let event_types = self
            .event_types
            .try_map(|types| parse_event_types(Some(types)))?;
        let channels = self
            .channels
            .try_map(|channels| parse_channels(Some(channels)))?;
        let max_in_flight = self.max_in_flight.try_map(parse_max_in_flight)?;
        let description = self
            .description
            .try_map(|text| input_limits::text(text, DESCRIPTION, &["description"]))?;
        let throttle_rate = self
            .throttle_rate
            .try_map(|rate| input_limits::throttle_rate(rate, &["throttleRate"]))?;
        let metadata = self
            .metadata
            .try_map(|metadata| input_limits::metadata(metadata, &["metadata"]))?;
        let retry_schedule = self
            .retry_schedule
            .try_map(|written| parse_retry_schedule(&written))?;
        let auth = self.auth.try_map(parse_auth)?;
        let delivery = DeliveryOptions {
            max_in_flight: max_in_flight.merge_optional(current.delivery.max_in_flight),
            ordered: self.ordered.merge_or(current.delivery.ordered, || false),
            retry_schedule: retry_schedule.merge_optional(current.delivery.retry_schedule),
            auth: auth.merge_optional(current.delivery.auth),
        };
        let fields = EndpointFields {
            url: url.unwrap_or(current.url),
            uid: uid.merge_optional(current.uid),
            description: description.merge_or(current.description, String::new),
            version: version.merge_or(current.version, || 1),
            disabled: self.disabled.merge_or(current.disabled, || false),
            event_types: event_types.merge_or(current.event_types, || None),
            channels: channels.merge_or(current.channels, || None),
            throttle_rate: throttle_rate.merge_optional(current.throttle_rate),
            metadata: metadata.merge_or(current.metadata, Metadata::new),
            headers: current.headers,
            delivery,
        };
        Ok(fields)
    }
}

/// An endpoint as Svix renders it (`EndpointOut`).
#[derive(Debug, Serialize)]
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
    pub created_at: Timestamp,
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
    let fields = input.into_fields(&ctx.ops.target_policy, KeptFields::default())?;
    let endpoint = endpoints::create(&ctx.ops, principal, app, fields, secret).await?;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// `GET /app/{app_id}/endpoint`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    list_in(&ctx, &principal, AppRef::Named(&app_id), query).await
}

/// A page of `app`'s endpoints.
pub async fn list_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let page = page_request(&query, Order::Ascending)?;
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
    let created_fields = input.clone().into_fields(&policy, KeptFields::default())?;
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
        Patch::Value(raw) => Some(parse_url(raw, &policy)?),
        _ => None,
    };
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

fn parse_version(version: Option<u32>) -> ApiResult<u32> {
    match version {
        None => Ok(1),
        Some(0) => Err(ApiError::invalid_body(
            &["version"],
            "version must be at least 1",
        )),
        Some(version) => Ok(version),
    }
}

/// Event type filters; an empty list means no filter, as in Svix.
fn parse_event_types(types: Option<Vec<String>>) -> ApiResult<Option<Vec<EventTypeName>>> {
    let Some(types) = types.filter(|types| !types.is_empty()) else {
        return Ok(None);
    };
    let mut parsed: Vec<EventTypeName> = Vec::with_capacity(types.len());
    for (index, name) in types.iter().enumerate() {
        let name = EventTypeName::parse(name)
            .map_err(|error| ApiError::invalid_input(&["eventTypes", &index.to_string()], error))?;
        if !parsed.contains(&name) {
            parsed.push(name);
        }
    }
    Ok(Some(parsed))
}

/// Channel subscriptions; an empty list means every channel, as in Svix.
fn parse_channels(channels: Option<Vec<String>>) -> ApiResult<Option<Vec<ChannelName>>> {
    let Some(channels) = channels.filter(|channels| !channels.is_empty()) else {
        return Ok(None);
    };
    if channels.len() > MAX_CHANNELS {
        return Err(ApiError::invalid_body(
            &["channels"],
            format!("at most {MAX_CHANNELS} channels are allowed"),
        ));
    }
    let mut parsed: Vec<ChannelName> = Vec::with_capacity(channels.len());
    for (index, name) in channels.iter().enumerate() {
        let name = ChannelName::parse(name)
            .map_err(|error| ApiError::invalid_input(&["channels", &index.to_string()], error))?;
        if !parsed.contains(&name) {
            parsed.push(name);
        }
    }
    Ok(Some(parsed))
}

#[cfg(test)]
mod tests;
