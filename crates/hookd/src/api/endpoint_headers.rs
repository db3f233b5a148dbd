//! Custom headers that every delivery to an endpoint carries (Svix's endpoint headers).
//!
//! Names that would let a caller forge or break a delivery are refused: the signature headers
//! (`webhook-*`, `svix-*`) and the headers the HTTP client owns (`content-type`, `host`, ...).
//! Header names compare case-insensitively, so `X-Team` and `x-team` are one header.
//! Headers that carry credentials (`Authorization`, `Cookie`, `X-Api-Key`, ...) are sent with
//! every delivery but never shown again: reading the headers names them in `sensitive`, as
//! Svix does.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::{ApiError, ApiResult, FieldError};
use super::json::ValidJson;
use super::params::ApiPath;
use super::patch::refuse;
use crate::ops::{AppRef, Principal, endpoints};
use crate::store::EndpointChange;

/// Most custom headers one endpoint may have.
const MAX_HEADERS: usize = 50;
/// Headers the delivery client sets itself; a custom value would conflict with it.
const RESERVED_NAMES: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "user-agent",
    "transfer-encoding",
    "connection",
];
/// Prefixes of the signature headers.
const RESERVED_PREFIXES: &[&str] = &["webhook-", "svix-"];
/// Headers that carry credentials (lowercase): their values are sent but never shown. Svix's
/// list, plus the cookie and API-key headers.
const SENSITIVE_NAMES: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "x-auth-token",
    "www-authenticate",
    "proxy-authenticate",
];

/// The body of `GET .../headers`, as Svix renders it: credential headers are left out of
/// `headers` and only named, as written, in `sensitive`.
#[derive(Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct EndpointHeadersOut {
    pub headers: BTreeMap<String, String>,
    pub sensitive: Vec<String>,
}

impl EndpointHeadersOut {
    /// Splits an endpoint's custom headers into the ones shown and the sensitive names.
    pub fn shown(headers: BTreeMap<String, String>) -> Self {
        let (sensitive, headers): (BTreeMap<_, _>, BTreeMap<_, _>) =
            headers.into_iter().partition(|(name, _)| {
                SENSITIVE_NAMES
                    .iter()
                    .any(|sensitive| name.eq_ignore_ascii_case(sensitive))
            });
        EndpointHeadersOut {
            headers,
            sensitive: sensitive.into_keys().collect(),
        }
    }
}

/// The body of `PUT .../headers`: the complete new set.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EndpointHeadersIn {
    pub headers: BTreeMap<String, String>,
}

/// The body of `PATCH .../headers`: headers to set, and headers to remove, either listed in
/// `deleteHeaders` (as the SDK sends them) or given a `null` value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointHeadersPatchIn {
    #[serde(default)]
    pub headers: BTreeMap<String, Option<String>>,
    #[serde(default)]
    pub delete_headers: Vec<String>,
}

impl EndpointHeadersPatchIn {
    /// Every change as name -> new value, `None` meaning remove. A header both set and listed
    /// for deletion is removed.
    fn into_changes(self) -> BTreeMap<String, Option<String>> {
        let mut changes = self.headers;
        changes.extend(self.delete_headers.into_iter().map(|name| (name, None)));
        changes
    }
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/headers`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<EndpointHeadersOut>> {
    get_in(&ctx, &principal, AppRef::Named(&app_id), &endpoint_id).await
}

/// The custom headers of an endpoint of `app` (also an inbound source's ingest endpoint).
pub async fn get_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
) -> ApiResult<Json<EndpointHeadersOut>> {
    let endpoint = endpoints::get(&ctx.ops, principal, app, endpoint_id).await?;
    Ok(Json(EndpointHeadersOut::shown(endpoint.fields.headers)))
}

/// `PUT /app/{app_id}/endpoint/{endpoint_id}/headers`: replaces every custom header.
pub async fn update(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    input: ValidJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    update_in(
        &ctx,
        &principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        input,
    )
    .await
}

/// Replaces every custom header of an endpoint of `app`.
pub async fn update_in(
    ctx: &ApiContext,
    principal: &Principal,
    app: AppRef<'_>,
    endpoint_id: &str,
    ValidJson(input): ValidJson<EndpointHeadersIn>,
) -> ApiResult<StatusCode> {
    let headers = parse_headers(input.headers, &["headers"])?;
    let change: EndpointChange = Box::new(move |current| {
        let mut fields = current.fields.clone();
        fields.headers = headers;
        Ok(fields)
    });
    endpoints::modify(&ctx.ops, principal, app, endpoint_id, None, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `PATCH /app/{app_id}/endpoint/{endpoint_id}/headers`: sets or removes single headers. The
/// merge runs on the headers as they are inside the write, so concurrent PATCHes all keep
/// their headers (and the limit is checked against the real total).
pub async fn patch(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    ValidJson(input): ValidJson<EndpointHeadersPatchIn>,
) -> ApiResult<StatusCode> {
    let changes = input.into_changes();
    let change: EndpointChange = Box::new(move |current| {
        let mut fields = current.fields.clone();
        fields.headers = merge_headers(fields.headers, changes).map_err(refuse)?;
        Ok(fields)
    });
    let app = AppRef::Named(&app_id);
    endpoints::modify(&ctx.ops, &principal, app, &endpoint_id, None, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Checks a complete set of custom headers; `at` locates the map in 422 errors.
pub fn parse_headers(
    headers: BTreeMap<String, String>,
    at: &[&str],
) -> ApiResult<BTreeMap<String, String>> {
    if headers.len() > MAX_HEADERS {
        return Err(ApiError::invalid_body(
            at,
            format!("at most {MAX_HEADERS} headers are allowed"),
        ));
    }
    let mut seen: Vec<String> = Vec::with_capacity(headers.len());
    for (name, value) in &headers {
        let lowercase = name.to_ascii_lowercase();
        if seen.contains(&lowercase) {
            return Err(header_error(
                at,
                name,
                "header names must be unique ignoring case",
            ));
        }
        check_header(name, value).map_err(|problem| header_error(at, name, problem))?;
        seen.push(lowercase);
    }
    Ok(headers)
}

/// Applies a PATCH to the current headers: a value sets (replacing any spelling of the same
/// name), `null` removes.
fn merge_headers(
    mut current: BTreeMap<String, String>,
    changes: BTreeMap<String, Option<String>>,
) -> ApiResult<BTreeMap<String, String>> {
    for (name, value) in changes {
        current.retain(|existing, _| !existing.eq_ignore_ascii_case(&name));
        if let Some(value) = value {
            check_header(&name, &value)
                .map_err(|problem| header_error(&["headers"], &name, problem))?;
            current.insert(name, value);
        }
    }
    if current.len() > MAX_HEADERS {
        return Err(ApiError::invalid_body(
            &["headers"],
            format!("at most {MAX_HEADERS} headers are allowed"),
        ));
    }
    Ok(current)
}

/// Why a custom header is not allowed, if it is not.
fn check_header(name: &str, value: &str) -> Result<(), &'static str> {
    if HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err("not a valid HTTP header name");
    }
    let lowercase = name.to_ascii_lowercase();
    if RESERVED_NAMES.contains(&lowercase.as_str())
        || RESERVED_PREFIXES
            .iter()
            .any(|prefix| lowercase.starts_with(prefix))
    {
        return Err("this header is set by hookd and cannot be customized");
    }
    if HeaderValue::from_str(value).is_err() {
        return Err("not a valid HTTP header value");
    }
    Ok(())
}

fn header_error(at: &[&str], name: &str, problem: &str) -> ApiError {
    let path: Vec<&str> = at.iter().copied().chain([name]).collect();
    ApiError::Validation(vec![FieldError::body(&path, problem)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str, ok: bool) {
        assert_eq!(check_header(name, value).is_ok(), ok, "{name}: {value:?}");
    }

    #[test]
    fn header_names_and_values() {
        check("X-Team", "core", true);
        check("authorization", "Bearer abc", true);
        check("x-empty", "", true);
        check("Webhook-Signature", "v1,abc", false);
        check("svix-id", "msg_1", false);
        check("Content-Type", "text/plain", false);
        check("host", "evil.example", false);
        check("User-Agent", "x", false);
        check("Transfer-Encoding", "chunked", false);
        check("connection", "close", false);
        check("content-length", "1", false);
        check("bad name", "x", false);
        check("", "x", false);
        check("x-newline", "a\r\nInjected: yes", false);
    }

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn complete_sets_refuse_case_duplicates_with_location() {
        assert!(parse_headers(map(&[("x-a", "1"), ("x-b", "2")]), &["headers"]).is_ok());
        let error = parse_headers(map(&[("X-A", "1"), ("x-a", "2")]), &["headers"]).unwrap_err();
        assert_eq!(
            error.body()["detail"][0]["loc"],
            serde_json::json!(["body", "headers", "x-a"])
        );
    }

    #[test]
    fn patches_set_replace_and_remove() {
        let current = map(&[("X-Team", "core"), ("x-keep", "1"), ("x-drop", "1")]);
        let changes = BTreeMap::from([
            ("x-team".to_owned(), Some("edge".to_owned())),
            ("X-DROP".to_owned(), None),
            ("x-new".to_owned(), Some("2".to_owned())),
        ]);
        let merged = merge_headers(current, changes).unwrap();
        assert_eq!(
            merged,
            map(&[("x-keep", "1"), ("x-new", "2"), ("x-team", "edge")])
        );
        let refused = BTreeMap::from([("svix-id".to_owned(), Some("x".to_owned()))]);
        assert!(merge_headers(BTreeMap::new(), refused).is_err());
    }

    fn check_shown(headers: &[(&str, &str)], shown: &[(&str, &str)], sensitive: &[&str]) {
        assert_eq!(
            EndpointHeadersOut::shown(map(headers)),
            EndpointHeadersOut {
                headers: map(shown),
                sensitive: sensitive.iter().map(|name| (*name).to_owned()).collect(),
            },
            "{headers:?}"
        );
    }

    #[test]
    fn credential_headers_are_named_not_shown() {
        check_shown(&[("X-Team", "core")], &[("X-Team", "core")], &[]);
        check_shown(&[("Authorization", "Bearer a")], &[], &["Authorization"]);
        check_shown(&[("authorization", "Bearer a")], &[], &["authorization"]);
        check_shown(
            &[("Proxy-Authorization", "Basic a"), ("x-team", "core")],
            &[("x-team", "core")],
            &["Proxy-Authorization"],
        );
        check_shown(&[("Cookie", "session=a")], &[], &["Cookie"]);
        check_shown(&[("X-API-Key", "a")], &[], &["X-API-Key"]);
        check_shown(&[("x-auth-token", "a")], &[], &["x-auth-token"]);
        check_shown(
            &[("X-Api-Key-Id", "not a key")],
            &[("X-Api-Key-Id", "not a key")],
            &[],
        );
    }

    #[test]
    fn patch_bodies_accept_delete_lists_and_nulls() {
        let body: EndpointHeadersPatchIn = serde_json::from_value(serde_json::json!({
            "headers": {"x-a": "1", "x-b": null, "x-c": "3"},
            "deleteHeaders": ["x-c", "x-d"]
        }))
        .unwrap();
        let changes = body.into_changes();
        assert_eq!(changes["x-a"].as_deref(), Some("1"));
        for removed in ["x-b", "x-c", "x-d"] {
            assert_eq!(changes[removed], None, "{removed}");
        }
    }
}
