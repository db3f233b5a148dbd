//! `/api/v1/environment/export` and `/import`: an installation as one JSON document, in Svix's
//! `EnvironmentOut`/`EnvironmentIn` shape (`eventTypes`, `settings`, `connectors`) with hookd's
//! `applications` beside them (each with its `endpoints`, their signing secret, custom
//! headers, credentials and delivery options), so a move keeps receivers verifying.
//!
//! The import body is parsed whole here, every value with the same rules as its own create
//! call, and a refusal names its place in the document (`["body", "applications", "0",
//! "endpoints", "1", "url"]`). What hookd cannot honour is refused rather than dropped:
//! `connectors` (and the older `transformationTemplates`) and any `settings` key. `version`
//! and every `createdAt`/`updatedAt` are informational and read as nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::Value;

use super::ApiContext;
use super::applications::ApplicationIn;
use super::endpoints::{EndpointIn, KeptFields};
use super::error::{ApiError, ApiResult, FieldError};
use super::event_types::{EventTypeIn, parse_name};
use super::idempotency::AnswerNotRemembered;
use super::json::ValidJson;
use super::scoped_routes::Scope::Admin;
use super::scoped_routes::{ScopedRoutes, post};
use super::{API_PREFIX, event_type_import};
use crate::domain::{AppId, EndpointId, Metadata};
use crate::ops::Principal;
use crate::ops::endpoint_secrets::parse_secret;
use crate::ops::environment::{self, ApplicationImport, EndpointImport, EnvironmentImport};
use crate::policy::ssrf::TargetPolicy;

pub use super::environment_document::EnvironmentOut;

/// The environment calls and the OpenAPI importer of event types, all admin only.
pub fn routes() -> ScopedRoutes {
    ScopedRoutes::new(API_PREFIX)
        .route("/environment/export", post(Admin, export))
        .route("/environment/import", post(Admin, import))
        .route(
            "/event-type/import/openapi",
            post(Admin, event_type_import::import_openapi),
        )
}

/// The body of import (Svix `EnvironmentIn`, with hookd's `applications`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentIn {
    #[serde(default)]
    pub event_types: Option<Vec<EventTypeIn>>,
    /// hookd has no environment settings: only an empty object (or none) is accepted.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Map<String, Value>>,
    /// hookd has no connectors (transformations): only an empty list is accepted.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub connectors: Option<Vec<Value>>,
    /// The older name of `connectors`' templates; refused when not empty, as they are.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub transformation_templates: Option<Vec<Value>>,
    /// hookd extension: applications with their endpoints.
    #[serde(default)]
    pub applications: Option<Vec<ApplicationEnvironmentIn>>,
}

/// One application of the document: `ApplicationIn` with the id to keep and its endpoints.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApplicationEnvironmentIn {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub uid: Option<String>,
    #[serde(default, alias = "rateLimit")]
    pub throttle_rate: Option<u32>,
    #[serde(default)]
    #[schema(value_type = Option<BTreeMap<String, String>>)]
    pub metadata: Option<Metadata>,
    #[serde(default)]
    pub endpoints: Option<Vec<EndpointEnvironmentIn>>,
}

/// One endpoint of the document: `EndpointIn` (with its `secret`, `headers` and `auth`) and
/// the id to keep.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointEnvironmentIn {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(flatten)]
    pub endpoint: EndpointIn,
}

/// `POST /environment/export`: the whole installation. The SDK sends an idempotency key with
/// every POST; this answer is never stored under it (`AnswerNotRemembered`), since it holds
/// every secret.
pub async fn export(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
) -> ApiResult<(Extension<AnswerNotRemembered>, Json<EnvironmentOut>)> {
    let exported = environment::export(&ctx.ops, &principal).await?;
    Ok((
        Extension(AnswerNotRemembered),
        Json(EnvironmentOut::from(exported)),
    ))
}

/// `POST /environment/import`: 204 once everything is written; a 422 names the first bad
/// entry and nothing is written.
pub async fn import(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ValidJson(input): ValidJson<EnvironmentIn>,
) -> ApiResult<StatusCode> {
    let document = parse_document(input, &ctx.ops.target_policy)?;
    environment::import(&ctx.ops, &principal, document).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The document as the operation's command; every refusal located in it.
pub fn parse_document(input: EnvironmentIn, policy: &TargetPolicy) -> ApiResult<EnvironmentImport> {
    if let Some(key) = input.settings.as_ref().and_then(|map| map.keys().next()) {
        return Err(ApiError::invalid_body(
            &["settings", key],
            "hookd has no environment settings; remove this key",
        ));
    }
    for (field, list) in [
        ("connectors", &input.connectors),
        ("transformationTemplates", &input.transformation_templates),
    ] {
        if list.as_ref().is_some_and(|list| !list.is_empty()) {
            return Err(ApiError::invalid_body(
                &[field, "0"],
                "hookd has no connectors (transformations); remove them",
            ));
        }
    }
    let mut document = EnvironmentImport::default();
    for (index, event_type) in input
        .event_types
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = ["eventTypes".to_owned(), index.to_string()];
        let name = nested(&at, parse_name(event_type.name.as_deref()))?;
        let fields = nested(&at, event_type.into_fields())?;
        document.event_types.push((name, fields));
    }
    for (index, application) in input
        .applications
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let at = ["applications".to_owned(), index.to_string()];
        document
            .applications
            .push(parse_application(application, &at, policy)?);
    }
    Ok(document)
}

fn parse_application(
    input: ApplicationEnvironmentIn,
    at: &[String],
    policy: &TargetPolicy,
) -> ApiResult<ApplicationImport> {
    let id = input
        .id
        .map(|id| parse_id::<AppId>(&id, AppId::PREFIX, at, AppId::from_trusted))
        .transpose()?;
    let fields = nested(
        at,
        ApplicationIn {
            name: input.name,
            uid: input.uid,
            throttle_rate: input.throttle_rate,
            metadata: input.metadata,
        }
        .into_fields(&[]),
    )?;
    let mut endpoints = Vec::new();
    for (index, endpoint) in input.endpoints.unwrap_or_default().into_iter().enumerate() {
        let at: Vec<String> = at
            .iter()
            .cloned()
            .chain(["endpoints".to_owned(), index.to_string()])
            .collect();
        endpoints.push(parse_endpoint(endpoint, &at, policy)?);
    }
    Ok(ApplicationImport {
        id,
        fields,
        endpoints,
    })
}

fn parse_endpoint(
    input: EndpointEnvironmentIn,
    at: &[String],
    policy: &TargetPolicy,
) -> ApiResult<EndpointImport> {
    let id = input
        .id
        .map(|id| parse_id::<EndpointId>(&id, EndpointId::PREFIX, at, EndpointId::from_trusted))
        .transpose()?;
    let mut endpoint = input.endpoint;
    let secret = endpoint
        .secret
        .take()
        .map(|raw| parse_secret(&raw, &["secret"]))
        .transpose()
        .map_err(|error| nested_op(at, error))?;
    let fields = nested(at, endpoint.into_fields(policy, KeptFields::default()))?;
    Ok(EndpointImport { id, fields, secret })
}

/// An id to keep: the record's prefix and 1 to 64 letters and digits after it, as hookd
/// generates them.
fn parse_id<T>(
    raw: &str,
    prefix: &str,
    at: &[String],
    wrap: impl FnOnce(String) -> T,
) -> ApiResult<T> {
    let suffix = raw.strip_prefix(prefix).unwrap_or_default();
    let well_formed = !suffix.is_empty()
        && suffix.len() <= 64
        && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
    if !well_formed {
        let path: Vec<&str> = at.iter().map(String::as_str).chain(["id"]).collect();
        return Err(ApiError::invalid_body(
            &path,
            format!("id must be {prefix} followed by 1 to 64 letters and digits"),
        ));
    }
    Ok(wrap(raw.to_owned()))
}

/// `result` with its 422 errors moved below `at` in the body.
fn nested<T>(at: &[String], result: ApiResult<T>) -> ApiResult<T> {
    result.map_err(|error| nested_error(at, error))
}

fn nested_op(at: &[String], error: crate::ops::OpError) -> ApiError {
    nested_error(at, ApiError::from(error))
}

fn nested_error(at: &[String], error: ApiError) -> ApiError {
    match error {
        ApiError::Validation(errors) => {
            ApiError::Validation(errors.into_iter().map(|error| below(at, error)).collect())
        }
        other => other,
    }
}

fn below(at: &[String], mut error: FieldError) -> FieldError {
    if error.loc.first().is_some_and(|place| place == "body") {
        let rest = error.loc.split_off(1);
        error.loc.extend(at.iter().cloned());
        error.loc.extend(rest);
    }
    error
}
