//! The descriptions of the routes outside an application's records: the event-type
//! catalogue, background tasks, tokens and the portal, operational webhooks, event streams,
//! health, metrics and this document (the inbound gateway's are in `inbound_routes`).

use axum::http::Method;

use super::operation::{OperationDoc, object_of, op, string};
use crate::api::background_tasks::{BackgroundTaskListQuery, BackgroundTaskOut};
use crate::api::endpoint_headers::{EndpointHeadersIn, EndpointHeadersOut};
use crate::api::endpoint_secrets::{EndpointSecretOut, EndpointSecretRotateIn};
use crate::api::endpoints::{EndpointIn, EndpointOut, EndpointPatch};
use crate::api::event_types::{
    EventTypeDeleteQuery, EventTypeIn, EventTypeListQuery, EventTypeOut, EventTypePatch,
};
use crate::api::integrations::{IntegrationIn, IntegrationKeyOut, IntegrationOut};
use crate::api::pagination::PageQuery;
use crate::api::stream::StreamQuery;
use crate::api::tokens::{
    AppPortalAccessIn, AppPortalAccessOut, AppTokenIn, AppTokenOut, ApplicationTokenExpireIn,
    IssuedTokenOut,
};

const EVENT_TYPES: &str = "Event types";
const TASKS: &str = "Background tasks";
const TOKENS: &str = "Tokens and portal";
const INTEGRATIONS: &str = "Integrations";
const OPERATIONAL: &str = "Operational webhooks";
const STREAMS: &str = "Event streams";
const SERVER: &str = "Server";

/// Every other route.
pub fn operations() -> Vec<OperationDoc> {
    let mut all = catalogue_and_tasks();
    all.extend(tokens());
    all.extend(integrations());
    all.extend(operational());
    all.extend(streams());
    all.extend(super::inbound_routes::operations());
    all.extend(server());
    all
}

fn catalogue_and_tasks() -> Vec<OperationDoc> {
    let one = "/api/v1/event-type/{event_type_name}";
    vec![
        op(
            Method::GET,
            "/api/v1/event-type",
            EVENT_TYPES,
            "List event types",
        )
        .query::<PageQuery>()
        .query::<EventTypeListQuery>()
        .page::<EventTypeOut>("A page of event types"),
        op(
            Method::POST,
            "/api/v1/event-type",
            EVENT_TYPES,
            "Create an event type",
        )
        .body::<EventTypeIn>()
        .json::<EventTypeOut>(201, "Created"),
        op(Method::GET, one, EVENT_TYPES, "Get an event type")
            .json::<EventTypeOut>(200, "The event type"),
        op(
            Method::PUT,
            one,
            EVENT_TYPES,
            "Update or create an event type",
        )
        .body::<EventTypeIn>()
        .json::<EventTypeOut>(200, "Updated")
        .json::<EventTypeOut>(201, "Created"),
        op(
            Method::PATCH,
            one,
            EVENT_TYPES,
            "Change some fields of an event type",
        )
        .body::<EventTypePatch>()
        .json::<EventTypeOut>(200, "Updated"),
        op(
            Method::DELETE,
            one,
            EVENT_TYPES,
            "Archive (or with `expunge`, delete) an event type",
        )
        .query::<EventTypeDeleteQuery>()
        .no_content("Archived or deleted"),
        op(
            Method::GET,
            "/api/v1/background-task",
            TASKS,
            "List background tasks",
        )
        .query::<PageQuery>()
        .query::<BackgroundTaskListQuery>()
        .page::<BackgroundTaskOut>("A page of tasks, newest first"),
        op(
            Method::GET,
            "/api/v1/background-task/{task_id}",
            TASKS,
            "Get a background task",
        )
        .json::<BackgroundTaskOut>(200, "The task"),
    ]
}

fn integrations() -> Vec<OperationDoc> {
    let all = "/api/v1/app/{app_id}/integration";
    let one = "/api/v1/app/{app_id}/integration/{integ_id}";
    vec![
        op(
            Method::GET,
            all,
            INTEGRATIONS,
            "List an application's integrations",
        )
        .query::<PageQuery>()
        .page::<IntegrationOut>("Every integration (one page; never a key)"),
        op(Method::POST, all, INTEGRATIONS, "Create an integration")
            .body::<IntegrationIn>()
            .json::<IntegrationOut>(201, "The integration (rotate its key to get one)"),
        op(Method::GET, one, INTEGRATIONS, "Get an integration")
            .json::<IntegrationOut>(200, "The integration"),
        op(Method::PUT, one, INTEGRATIONS, "Update an integration")
            .body::<IntegrationIn>()
            .json::<IntegrationOut>(200, "The integration as saved"),
        op(Method::DELETE, one, INTEGRATIONS, "Delete an integration")
            .no_content("Deleted; its key no longer authenticates"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/integration/{integ_id}/key/rotate",
            INTEGRATIONS,
            "Rotate an integration's key",
        )
        .json::<IntegrationKeyOut>(200, "The new key, shown this once; the old one is revoked"),
    ]
}

fn tokens() -> Vec<OperationDoc> {
    vec![
        op(
            Method::GET,
            "/api/v1/app/{app_id}/token",
            TOKENS,
            "List an application's tokens",
        )
        .page::<AppTokenOut>("Every token (one page)"),
        op(
            Method::POST,
            "/api/v1/app/{app_id}/token",
            TOKENS,
            "Issue an application token",
        )
        .body::<AppTokenIn>()
        .json::<IssuedTokenOut>(201, "The token, shown this once"),
        op(
            Method::DELETE,
            "/api/v1/app/{app_id}/token/{token_id}",
            TOKENS,
            "Revoke a token",
        )
        .no_content("Revoked"),
        op(
            Method::POST,
            "/api/v1/auth/app-portal-access/{app_id}",
            TOKENS,
            "Open the application portal",
        )
        .body::<AppPortalAccessIn>()
        .json::<AppPortalAccessOut>(200, "The portal's URL and its token"),
        op(
            Method::POST,
            "/api/v1/auth/app/{app_id}/expire-all",
            TOKENS,
            "Expire an application's portal tokens",
        )
        .body::<ApplicationTokenExpireIn>()
        .no_content("Expired"),
        op(
            Method::POST,
            "/api/v1/auth/logout",
            TOKENS,
            "Revoke the calling application token",
        )
        .no_content("Logged out"),
    ]
}

fn operational() -> Vec<OperationDoc> {
    let list = "/api/v1/operational-webhook/endpoint";
    let one = "/api/v1/operational-webhook/endpoint/{endpoint_id}";
    let secret = "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret";
    let headers = "/api/v1/operational-webhook/endpoint/{endpoint_id}/headers";
    vec![
        op(
            Method::GET,
            list,
            OPERATIONAL,
            "List operational webhook endpoints",
        )
        .query::<PageQuery>()
        .page::<EndpointOut>("A page of endpoints"),
        op(
            Method::POST,
            list,
            OPERATIONAL,
            "Create an operational webhook endpoint",
        )
        .body::<EndpointIn>()
        .json::<EndpointOut>(201, "Created"),
        op(
            Method::GET,
            one,
            OPERATIONAL,
            "Get an operational webhook endpoint",
        )
        .json::<EndpointOut>(200, "The endpoint"),
        op(
            Method::PUT,
            one,
            OPERATIONAL,
            "Update or create an operational webhook endpoint",
        )
        .body::<EndpointIn>()
        .json::<EndpointOut>(200, "Updated")
        .json::<EndpointOut>(201, "Created"),
        op(
            Method::PATCH,
            one,
            OPERATIONAL,
            "Change some fields of an operational webhook endpoint",
        )
        .body::<EndpointPatch>()
        .json::<EndpointOut>(200, "Updated"),
        op(
            Method::DELETE,
            one,
            OPERATIONAL,
            "Delete an operational webhook endpoint",
        )
        .no_content("Deleted"),
        op(
            Method::GET,
            secret,
            OPERATIONAL,
            "Get an operational webhook endpoint's secret",
        )
        .json::<EndpointSecretOut>(200, "The current secret"),
        op(
            Method::POST,
            "/api/v1/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
            OPERATIONAL,
            "Rotate an operational webhook endpoint's secret",
        )
        .optional_body::<EndpointSecretRotateIn>()
        .json::<EndpointSecretOut>(200, "The new secret"),
        op(
            Method::GET,
            headers,
            OPERATIONAL,
            "Get an operational webhook endpoint's custom headers",
        )
        .json::<EndpointHeadersOut>(200, "The headers; credentials only named"),
        op(
            Method::PUT,
            headers,
            OPERATIONAL,
            "Replace an operational webhook endpoint's custom headers",
        )
        .body::<EndpointHeadersIn>()
        .no_content("Replaced"),
    ]
}

fn streams() -> Vec<OperationDoc> {
    let events = "Server-sent events, one a message (`id` its message id), until the client leaves";
    vec![
        op(
            Method::GET,
            "/api/v1/app/{app_id}/stream",
            STREAMS,
            "Follow an application's messages",
        )
        .query::<StreamQuery>()
        .text(200, events, "text/event-stream"),
        op(
            Method::GET,
            "/ingest/api/v1/source/{source_id}/stream",
            STREAMS,
            "Follow an inbound source's messages",
        )
        .query::<StreamQuery>()
        .text(200, events, "text/event-stream"),
    ]
}

fn server() -> Vec<OperationDoc> {
    vec![
        op(Method::GET, "/api/v1/health", SERVER, "Liveness").inline(
            200,
            "The process answers",
            object_of(&[("status", string())]),
        ),
        op(Method::GET, "/api/v1/health/ready", SERVER, "Readiness")
            .inline(
                200,
                "The database answers and the delivery loop runs",
                readiness(false),
            )
            .inline(
                503,
                "Not ready: `detail` names what failed",
                readiness(true),
            ),
        op(Method::GET, "/api/v1/openapi.json", SERVER, "This document").inline(
            200,
            "The OpenAPI 3.1 description of every route",
            object_of(&[("openapi", string())]),
        ),
        op(
            Method::GET,
            "/metrics",
            SERVER,
            "Prometheus metrics (with `--metrics-token`, behind it)",
        )
        .text(200, "The series in Prometheus text format", "text/plain"),
    ]
}

/// The readiness answer; `failed` adds the error's `code` and `detail`.
fn readiness(failed: bool) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    let nullable_integer =
        ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::Integer, Type::Null]));
    let checks = ObjectBuilder::new()
        .property("database", string())
        .property("engine", string())
        .property("engineHeartbeatAgeMs", nullable_integer)
        .required("database")
        .required("engine");
    let mut fields = vec![("status", string()), ("checks", checks.into())];
    if failed {
        fields.push(("code", string()));
        fields.push(("detail", string()));
    }
    object_of(&fields)
}
