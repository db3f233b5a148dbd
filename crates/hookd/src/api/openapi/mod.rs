//! The OpenAPI 3.1 document of every route, served at `GET /api/v1/openapi.json`.
//!
//! It is assembled from three sources, so that it cannot drift from the code unnoticed:
//! the route table (`api::route_table`: each path, method and scope, which decides the
//! security requirement), one `OperationDoc` per route (`application_routes`,
//! `service_routes`: tag, summary, which query parts and body types the handler reads and
//! which types it answers with), and the schemas those Rust types derive (`ToSchema`,
//! `IntoParams`). Path parameters are read from the path template. Every operation also
//! lists the error answers `ApiError` renders. `tests/it/openapi.rs` fails when the table of
//! descriptions and the route table differ in a path or method.
//!
//! It must not describe a route by hand where a type can describe it; the few bodies written
//! inline by their handlers (`{}`, health) are described inline here.

mod application_routes;
mod environment_routes;
mod erasure_routes;
mod inbound_routes;
mod operation;
pub mod schemas;
mod service_routes;

use std::collections::HashMap;

use axum::Json;
use axum::http::Method;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::ComponentsBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{InfoBuilder, OpenApi, OpenApiBuilder, Paths, RefOr, Required};

use super::error::FieldError;
use super::scoped_routes::Scope;
use operation::{OperationDoc, json_response, string};

/// The name of the bearer-token security scheme.
const BEARER: &str = "bearer";

/// `GET /api/v1/openapi.json`.
pub async fn get() -> Json<OpenApi> {
    Json(document())
}

/// The whole document.
pub fn document() -> OpenApi {
    let scopes: HashMap<(Method, String), Scope> = super::route_table()
        .into_iter()
        .map(|route| ((route.method, route.path), route.scope))
        .collect();
    let mut paths = Paths::new();
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            BEARER,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .schema_from::<ApiErrorBody>()
        .schema_from::<ValidationErrorBody>()
        .schema_from::<FieldError>();
    let mut tags: Vec<&str> = Vec::new();
    for doc in descriptions() {
        // A description without a route is listed as public; the coverage test fails on it.
        let scope = scopes
            .get(&(doc.method.clone(), doc.path.to_owned()))
            .copied()
            .unwrap_or(Scope::Public);
        if !tags.contains(&doc.tag) {
            tags.push(doc.tag);
        }
        components = components.schemas_from_iter(doc.schemas.clone());
        let method = http_method(&doc.method);
        let path = doc.path;
        paths.add_path_operation(path, vec![method], operation(doc, scope));
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("hookd")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Svix-compatible webhook delivery, an inbound gateway for providers' \
                     webhooks, and hookd's own additions. Authenticate with \
                     `Authorization: Bearer <token>`: the admin token, or an application \
                     token where the route allows one.",
                )),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(
            tags.into_iter()
                .map(|tag| TagBuilder::new().name(tag).build()),
        ))
        .build()
}

/// Every route's description, application routes first.
pub fn descriptions() -> Vec<OperationDoc> {
    let mut all = application_routes::operations();
    all.extend(erasure_routes::operations());
    all.extend(service_routes::operations());
    all.extend(environment_routes::operations());
    all
}

/// The general error body (`ApiError::body` for every error but a 422): a stable `code`
/// and a `detail` safe to show.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiError)]
pub struct ApiErrorBody {
    pub code: String,
    pub detail: String,
}

/// The body of a 422: every field that was refused.
#[derive(Serialize, ToSchema)]
#[schema(as = ValidationError)]
pub struct ValidationErrorBody {
    pub detail: Vec<FieldError>,
}

fn operation(doc: OperationDoc, scope: Scope) -> utoipa::openapi::path::Operation {
    let mut builder = OperationBuilder::new()
        .tag(doc.tag)
        .summary(Some(doc.summary))
        .operation_id(Some(operation_id(&doc.method, doc.path)))
        .parameters(Some(
            path_parameters(doc.path)
                .chain(idempotency_key(&doc, scope))
                .chain(doc.query),
        ))
        .request_body(doc.request_body);
    let mut documented = Vec::new();
    for (status, response) in doc.responses {
        documented.push(status);
        builder = builder.response(status.to_string(), response);
    }
    for (status, description) in error_answers(scope) {
        if documented.contains(&status) {
            continue;
        }
        let body = if status == 422 {
            "ValidationError"
        } else {
            "ApiError"
        };
        let schema = RefOr::Ref(utoipa::openapi::Ref::from_schema_name(body));
        builder = builder.response(status.to_string(), json_response(description, schema));
    }
    if scope != Scope::Public {
        builder = builder.security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
    }
    builder.build()
}

/// The errors any route of `scope` may answer (`ApiError`'s statuses).
fn error_answers(scope: Scope) -> Vec<(u16, &'static str)> {
    let mut answers = vec![
        (400, "A malformed request: path segment, JSON or header"),
        (404, "No such resource"),
        (408, "The request body did not arrive in time"),
        (
            409,
            "A unique value is taken, or an idempotency key was reused",
        ),
        (413, "The request body is too large"),
        (
            422,
            "Some values are not acceptable: each refused field, with where it is",
        ),
        (500, "An internal error (never expected)"),
        (503, "Busy or unavailable; retry after a pause"),
    ];
    if scope != Scope::Public {
        answers.push((401, "No bearer token, or an unknown one"));
        answers.push((403, "The token may not call this"));
        answers.push((429, "The token is over its rate limit; see Retry-After"));
    }
    answers
}

/// The `Idempotency-Key` header of an authenticated POST under `/api/v1`, which the
/// idempotency layer (`api::idempotency`) reads.
fn idempotency_key(doc: &OperationDoc, scope: Scope) -> Option<utoipa::openapi::path::Parameter> {
    let applies = doc.method == Method::POST
        && doc.path.starts_with(super::API_PREFIX)
        && scope != Scope::Public;
    applies.then(|| {
        ParameterBuilder::new()
            .name("idempotency-key")
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(
                "A repeat of an earlier request with this key (same body) gets the first answer \
                 and creates nothing",
            ))
            .schema(Some(string()))
            .build()
    })
}

/// One required string parameter for each `{name}` of the path template.
fn path_parameters(path: &str) -> impl Iterator<Item = utoipa::openapi::path::Parameter> + '_ {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(path_parameter_description(name)))
                .schema(Some(string()))
                .build()
        })
}

fn path_parameter_description(name: &str) -> &'static str {
    match name {
        "app_id" => "The application's id or uid",
        "endpoint_id" => "The endpoint's id or uid",
        "msg_id" => "The message's id",
        "event_type_name" => "The event type's name",
        "source_id" => "The inbound source's id or uid",
        "token" => "The source's ingest token",
        _ => "An id",
    }
}

/// `get /api/v1/app/{app_id}` becomes `get_api_v1_app_app_id`: unique, since the route
/// table has one method per path once.
fn operation_id(method: &Method, path: &str) -> String {
    let words: Vec<&str> = path
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|word| !word.is_empty())
        .collect();
    format!(
        "{}_{}",
        method.as_str().to_ascii_lowercase(),
        words.join("_")
    )
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}
