//! `/api/v1/app/{app_id}/endpoint`: the URLs that receive an application's messages.
//!
//! Every URL set here passes the SSRF guard first (`endpoint_targets`). Secrets and custom
//! headers have their own calls, in `endpoint_secrets` and `endpoint_headers`. hookd's own
//! delivery options (`maxInFlight`, `ordered`, `retrySchedule`, `auth`) are parsed and rendered
//! by `endpoint_delivery_options`; outbound credentials are never rendered back.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::applications::{UPSERT_ROUNDS, find_application};
use super::endpoint_delivery_options::{
    OutboundAuthIn, OutboundAuthOut, parse_auth, parse_max_in_flight, parse_retry_schedule,
};
use super::endpoint_headers::parse_headers;
use super::endpoint_secrets::{generate_secret, parse_secret};
use super::endpoint_targets::{parse_url, refuse_blocked_host};
use super::error::{ApiError, ApiResult, FieldError};
use super::input_limits;
use super::json::ValidJson;
use super::pagination::{ListResponse, page_request, render_page};
use super::params::{ApiPath, QueryParams};
use super::patch::{Patch, refuse, saved};
use crate::domain::limits::DESCRIPTION;
use crate::domain::{
    Application, ChannelName, DeliveryOptions, Endpoint, EndpointFields, EndpointId, EventTypeName,
    Metadata, Timestamp, Uid,
};
use crate::policy::ssrf::TargetPolicy;
use crate::store::{EndpointChange, Modified, NewEndpoint, Order};

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
    /// The merged fields, and whether the URL changed (and so needs its host checked).
    pub fn merge_into(
        self,
        current: EndpointFields,
        policy: &TargetPolicy,
    ) -> ApiResult<(EndpointFields, bool)> {
        let url = match self.url {
            Patch::Absent => None,
            Patch::Null => return Err(ApiError::invalid_body(&["url"], "url cannot be null")),
            Patch::Value(raw) => Some(parse_url(&raw, policy)?),
        };
        let url_changed = url.is_some();
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
        Ok((fields, url_changed))
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
    ApiPath(app_id): ApiPath<String>,
    ValidJson(mut input): ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = find_application(&ctx, &app_id).await?;
    let secret = input.secret.take();
    let fields = input.into_fields(&ctx.target_policy, KeptFields::default())?;
    refuse_blocked_host(&ctx, &fields.url).await?;
    let endpoint = insert(&ctx, &app, fields, secret).await?;
    Ok((StatusCode::CREATED, Json(endpoint.into())))
}

/// `GET /app/{app_id}/endpoint`.
pub async fn list(
    State(ctx): State<ApiContext>,
    ApiPath(app_id): ApiPath<String>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<EndpointOut>>> {
    let app = find_application(&ctx, &app_id).await?;
    let page = page_request(&query, Order::Ascending)?;
    let endpoints = ctx.store.list_endpoints(&app.id, page).await?;
    Ok(Json(render_page(endpoints, EndpointOut::from)))
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointOut>> {
    let (_, endpoint) = find_endpoint(&ctx, &app_id, &endpoint_id).await?;
    Ok(Json(endpoint.into()))
}

/// `PUT /app/{app_id}/endpoint/{endpoint_id}`: the SDK's `upsert`. An existing endpoint gets
/// every field replaced but its secret, its headers (unless the body has them) and its uid
/// (unless the body has one, so an endpoint addressed by its uid stays reachable under it).
/// A missing one is created (201) with the path as its uid, as for applications; concurrent
/// PUTs to one missing path create it once and update it after.
pub async fn update(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    ValidJson(mut input): ValidJson<EndpointIn>,
) -> ApiResult<(StatusCode, Json<EndpointOut>)> {
    let app = find_application(&ctx, &app_id).await?;
    let secret = input.secret.take();
    let created_fields = input
        .clone()
        .into_fields(&ctx.target_policy, KeptFields::default())?;
    // Every PUT names its URL, and a name may resolve elsewhere now than when it was last
    // checked, so the host is checked even when it did not change (before the write: it is DNS).
    refuse_blocked_host(&ctx, &created_fields.url).await?;
    let mut last_conflict = String::new();
    for _ in 0..UPSERT_ROUNDS {
        let modified = ctx
            .store
            .modify_endpoint(
                &app.id,
                &endpoint_id,
                replace_fields(input.clone(), ctx.target_policy),
                ctx.clock.now(),
            )
            .await?;
        if !matches!(modified, Modified::Missing) {
            let updated = saved(modified, ENDPOINT_NOT_FOUND)?;
            return Ok((StatusCode::OK, Json(updated.into())));
        }
        let mut fields = created_fields.clone();
        if fields.uid.is_none() {
            fields.uid = Some(uid_from_path(&endpoint_id)?);
        }
        match insert(&ctx, &app, fields, secret.clone()).await {
            Ok(created) => return Ok((StatusCode::CREATED, Json(created.into()))),
            // Created by a concurrent request since we looked: update that one.
            Err(ApiError::Conflict(message)) => last_conflict = message,
            Err(error) => return Err(error),
        }
    }
    Err(ApiError::Conflict(last_conflict))
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
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    ValidJson(input): ValidJson<EndpointPatch>,
) -> ApiResult<Json<EndpointOut>> {
    let app = find_application(&ctx, &app_id).await?;
    // A new URL's host is checked before the write, since the check resolves DNS.
    if let Patch::Value(raw) = &input.url {
        refuse_blocked_host(&ctx, &parse_url(raw, &ctx.target_policy)?).await?;
    }
    let policy = ctx.target_policy;
    let change: EndpointChange = Box::new(move |current| {
        let (fields, _) = input
            .merge_into(current.fields.clone(), &policy)
            .map_err(refuse)?;
        Ok(fields)
    });
    let updated = save(&ctx, &app, &endpoint_id, change).await?;
    Ok(Json(updated.into()))
}

/// `DELETE /app/{app_id}/endpoint/{endpoint_id}`.
pub async fn delete(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let (app, endpoint) = find_endpoint(&ctx, &app_id, &endpoint_id).await?;
    if !ctx
        .store
        .delete_endpoint(&app.id, &endpoint.id, ctx.clock.now())
        .await?
    {
        return Err(ApiError::NotFound(ENDPOINT_NOT_FOUND));
    }
    tracing::info!(app_id = %app.id, endpoint_id = %endpoint.id, "endpoint deleted");
    Ok(StatusCode::NO_CONTENT)
}

const ENDPOINT_NOT_FOUND: &str = "endpoint not found";

/// The application and endpoint named by two path segments (ids or uids), or 404.
pub async fn find_endpoint(
    ctx: &ApiContext,
    app_id_or_uid: &str,
    endpoint_id_or_uid: &str,
) -> ApiResult<(Application, Endpoint)> {
    let app = find_application(ctx, app_id_or_uid).await?;
    let endpoint = ctx
        .store
        .get_endpoint(&app.id, endpoint_id_or_uid)
        .await?
        .ok_or(ApiError::NotFound(ENDPOINT_NOT_FOUND))?;
    Ok((app, endpoint))
}

/// Applies `change` (any change: fields, headers) to the endpoint as it is inside the write
/// (the store raises `endpoint.updated` with it); 404 if it is gone.
pub async fn save(
    ctx: &ApiContext,
    app: &Application,
    endpoint_id_or_uid: &str,
    change: EndpointChange,
) -> ApiResult<Endpoint> {
    let modified = ctx
        .store
        .modify_endpoint(&app.id, endpoint_id_or_uid, change, ctx.clock.now())
        .await?;
    saved(modified, ENDPOINT_NOT_FOUND)
}

/// Creates an endpoint with `secret`, or a generated one; the caller has checked the host.
async fn insert(
    ctx: &ApiContext,
    app: &Application,
    fields: EndpointFields,
    secret: Option<String>,
) -> ApiResult<Endpoint> {
    let secret = match secret {
        Some(raw) => parse_secret(&raw, &["secret"])?,
        None => generate_secret(),
    };
    let now = ctx.clock.now();
    let new_endpoint = NewEndpoint {
        id: EndpointId::generate(now, rand::random()),
        fields,
        secret,
        now,
    };
    let endpoint = ctx.store.create_endpoint(&app.id, new_endpoint).await?;
    tracing::info!(app_id = %app.id, endpoint_id = %endpoint.id, "endpoint created");
    Ok(endpoint)
}

/// The uid of an endpoint created by PUT to a path that names none. A path that looks like a
/// generated id cannot be created, so it is a 404.
fn uid_from_path(endpoint_id: &str) -> ApiResult<Uid> {
    if endpoint_id.starts_with(EndpointId::PREFIX) {
        return Err(ApiError::NotFound(ENDPOINT_NOT_FOUND));
    }
    Uid::parse(endpoint_id)
        .map_err(|error| ApiError::Validation(vec![FieldError::path("endpoint_id", error.message)]))
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
