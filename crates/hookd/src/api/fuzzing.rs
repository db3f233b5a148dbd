//! Entry points for the fuzz targets in `fuzz/` (`api_bodies`, `api_queries`); the server does
//! not use this module. Each function runs one of the API edge's parsers on untrusted input
//! exactly as its handler does (the same `parse_json`, the same query extractor, the same
//! conversion into domain types) and returns the parsed value, or the refusal as the client
//! would receive it: its status and JSON body. The fuzz targets check that no input panics and
//! that every refusal is a client error with a JSON body.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};

use super::applications::{ApplicationIn, ApplicationPatch};
use super::endpoint_headers::{EndpointHeadersIn, parse_headers};
use super::endpoints::{EndpointIn, EndpointPatch, KeptFields};
use super::error::ApiError;
use super::event_types::{EventTypeIn, EventTypePatch};
use super::inbound::SourceIn;
use super::json::parse_json;
use super::message_filter::MessageFilterQuery;
use super::pagination::PageQuery;
use super::params::ApiQuery;
use super::stream::{StreamQuery, stream_start};
use super::tokens::{AppPortalAccessIn, AppTokenIn, ApplicationTokenExpireIn};
use crate::domain::inbound::SourceFields;
use crate::domain::{ApplicationFields, EndpointFields, EventTypeFields, EventTypeName, Secret};
use crate::ops::endpoint_secrets::parse_secret;
use crate::ops::messages::AcceptMessage;
use crate::ops::stream::StreamStart;
use crate::ops::tokens::NewToken;
use crate::policy::ssrf::TargetPolicy;
use crate::store::{MessageFilter, Order, PageRequest, TokenSelection};

/// What the client is answered when its input is refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub status: u16,
    pub body: serde_json::Value,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal {
            status: error.status().as_u16(),
            body: error.body(),
        }
    }
}

type Parsed<T> = Result<T, Refusal>;

/// `POST /app/{app_id}/msg`.
pub fn message_in(body: &[u8]) -> Parsed<AcceptMessage> {
    Ok(parse_json::<super::messages::MessageIn>(body)?.parse()?)
}

/// `POST /app` and `PUT /app/{app_id}`.
pub fn application_in(body: &[u8]) -> Parsed<ApplicationFields> {
    Ok(parse_json::<ApplicationIn>(body)?.into_fields(&[])?)
}

/// `PATCH /app/{app_id}`, applied to `current`.
pub fn application_patch(body: &[u8], current: ApplicationFields) -> Parsed<ApplicationFields> {
    Ok(parse_json::<ApplicationPatch>(body)?.merge_into(current)?)
}

/// `POST /app/{app_id}/endpoint`: the fields, and the secret when the body gives one.
pub fn endpoint_in(body: &[u8], policy: &TargetPolicy) -> Parsed<(EndpointFields, Option<Secret>)> {
    let input = parse_json::<EndpointIn>(body)?;
    let secret = input
        .secret
        .as_deref()
        .map(|raw| parse_secret(raw, &["secret"]))
        .transpose()
        .map_err(ApiError::from)?;
    Ok((input.into_fields(policy, KeptFields::default())?, secret))
}

/// `PATCH /app/{app_id}/endpoint/{endpoint_id}`, applied to `current`.
pub fn endpoint_patch(
    body: &[u8],
    current: EndpointFields,
    policy: &TargetPolicy,
) -> Parsed<EndpointFields> {
    Ok(parse_json::<EndpointPatch>(body)?.merge_into(current, policy)?)
}

/// `PUT .../endpoint/{endpoint_id}/headers`.
pub fn endpoint_headers_in(body: &[u8]) -> Parsed<BTreeMap<String, String>> {
    Ok(parse_headers(
        parse_json::<EndpointHeadersIn>(body)?.headers,
        &["headers"],
    )?)
}

/// `POST /event-type`: the name and the other fields.
pub fn event_type_in(body: &[u8]) -> Parsed<(EventTypeName, EventTypeFields)> {
    let input = parse_json::<EventTypeIn>(body)?;
    let name = super::event_types::parse_name(input.name.as_deref())?;
    Ok((name, input.into_fields()?))
}

/// `PATCH /event-type/{event_type_name}`, applied to `current`.
pub fn event_type_patch(body: &[u8], current: EventTypeFields) -> Parsed<EventTypeFields> {
    Ok(parse_json::<EventTypePatch>(body)?.merge_into(current)?)
}

/// `POST /ingest/api/v1/source`: the source's type and `config` included.
pub fn source_in(body: &[u8]) -> Parsed<SourceFields> {
    Ok(parse_json::<SourceIn>(body)?.into_fields()?)
}

/// `POST /app/{app_id}/token`.
pub fn app_token_in(body: &[u8]) -> Parsed<NewToken> {
    Ok(super::tokens::parse_new_token(parse_json::<AppTokenIn>(
        body,
    )?)?)
}

/// `POST /auth/app-portal-access/{app_id}`.
pub fn portal_access_in(body: &[u8]) -> Parsed<(Option<ApplicationFields>, NewToken)> {
    Ok(super::tokens::parse_portal_access(parse_json::<
        AppPortalAccessIn,
    >(body)?)?)
}

/// `POST /auth/app/{app_id}/expire-all`.
pub fn token_expire_in(body: &[u8]) -> Parsed<(TokenSelection, Duration)> {
    Ok(super::tokens::parse_expire_all(parse_json::<
        ApplicationTokenExpireIn,
    >(body)?)?)
}

/// `?limit=&iterator=&order=` of every listing.
pub fn page_query(query: &str, default_order: Order) -> Parsed<PageRequest> {
    Ok(ApiQuery::<PageQuery>::parse(query)?.request(default_order))
}

/// The message filters of the message, attempt and dead-letter listings.
pub fn message_filter_query(query: &str) -> Parsed<MessageFilter> {
    Ok(ApiQuery::<MessageFilterQuery>::parse(query)?.filter())
}

/// Where a message stream starts: after `Last-Event-ID` (a header value as a request carries
/// it) or `?after=`; `None` is "with the next message".
pub fn stream_start_at(last_event_id: Option<HeaderValue>, query: &str) -> Parsed<Option<String>> {
    let mut headers = HeaderMap::new();
    if let Some(value) = last_event_id {
        headers.insert("last-event-id", value);
    }
    let query = ApiQuery::<StreamQuery>::parse(query)?;
    Ok(match stream_start(&headers, &query)? {
        StreamStart::After(after) => Some(after.to_owned()),
        StreamStart::Now => None,
    })
}
