//! The bodies of endpoint create, full update (PUT) and PATCH, parsed into `EndpointFields`.
//! Every value is checked here, at the edge; the URL's host is checked by the operation.
//! `filter` (hookd's content filter) is parsed into a `ContentFilter` here, so a filter that
//! could not be evaluated is a 422 naming its place (`["body", "filter", ...]`), never a
//! failure at delivery.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::super::endpoint_delivery_options::{
    OutboundAuthIn, parse_auth, parse_max_in_flight, parse_retry_schedule,
};
use super::super::endpoint_headers::parse_headers;
use super::super::endpoint_targets::parse_url;
use super::super::error::{ApiError, ApiResult};
use super::super::input_limits;
use super::super::patch::Patch;
use crate::domain::limits::DESCRIPTION;
use crate::domain::{
    ChannelName, ContentFilter, DeliveryOptions, EndpointFields, EventTypeName, Metadata, Uid,
};
use crate::policy::ssrf::TargetPolicy;

/// Most channels an endpoint may subscribe to (Svix's limit).
const MAX_CHANNELS: usize = 10;

/// The body of create and full update (Svix `EndpointIn` / `EndpointUpdate`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
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
    #[schema(value_type = Option<BTreeMap<String, String>>)]
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
    /// hookd extension: a content filter over the payload; absent keeps it on update, `null`
    /// removes it.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Patch<serde_json::Value>,
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
            filter: self
                .filter
                .try_map(parse_filter)?
                .merge_optional(current.filter),
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
    pub filter: Option<ContentFilter>,
    pub delivery: DeliveryOptions,
}

/// The body of PATCH: only present fields change; `null` resets a field to its default.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub url: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub description: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub uid: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    pub version: Patch<u32>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub disabled: Patch<bool>,
    #[serde(default, alias = "filterTypes")]
    #[schema(value_type = Option<Vec<String>>)]
    pub event_types: Patch<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub channels: Patch<Vec<String>>,
    #[serde(default, alias = "rateLimit")]
    #[schema(value_type = Option<u32>)]
    pub throttle_rate: Patch<u32>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Patch<Metadata>,
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    pub max_in_flight: Patch<i64>,
    #[serde(default)]
    #[schema(value_type = Option<bool>)]
    pub ordered: Patch<bool>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub retry_schedule: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<OutboundAuthIn>)]
    pub auth: Patch<OutboundAuthIn>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub filter: Patch<serde_json::Value>,
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
        let filter = self.filter.try_map(parse_filter)?;
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
            filter: filter.merge_optional(current.filter),
            throttle_rate: throttle_rate.merge_optional(current.throttle_rate),
            metadata: metadata.merge_or(current.metadata, Metadata::new),
            headers: current.headers,
            delivery,
        };
        Ok(fields)
    }
}

/// A content filter; a refusal names its place inside the filter.
fn parse_filter(written: serde_json::Value) -> ApiResult<ContentFilter> {
    ContentFilter::parse(written).map_err(|error| {
        let mut loc = vec!["filter"];
        loc.extend(error.path.iter().map(String::as_str));
        ApiError::invalid_body(&loc, error.message)
    })
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
