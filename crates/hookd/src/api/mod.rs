//! The HTTP API: the only module that knows status codes, routes and JSON shapes.
//!
//! Handlers parse requests into domain types at the edge, call one operation (`crate::ops`) as
//! the authenticated `Principal`, and render its result in Svix's wire format; `error` maps the
//! operations' `OpError` to HTTP. Handlers contain no workflow, no scope check and no SQL.
//!
//! Every route is declared once with its scope (`scoped_routes`; `route_table` lists them). A
//! request passes through, in order: the bearer-token check (`auth`), the `Idempotency-Key`
//! replay layer (`idempotency`), the route's scope, body and query parsing (`json`, `params`; a missing target is
//! answered before invalid input, `lookup_first`), one handler module per
//! resource, and `error`, which renders every failure as JSON. Around all of it, the access
//! log (`access_log`) gives each request an `x-request-id`, logs one line when it is answered
//! and counts it by route template and status class. An authenticated caller over its
//! per-token rate limit is answered 429 right after `auth` (`rate_limit`). `GET /metrics`
//! (`metrics`) renders the Prometheus series; `/api/v1/health/ready` is readiness (`health`).
//! `fuzzing` is no route: it hands the body and query parsers, as the handlers run them, to the
//! fuzz targets in `fuzz/`.

mod access_log;
mod applications;
mod attempts;
mod auth;
mod background_tasks;
pub mod body_limits;
mod context;
mod dead_letters;
mod delivery_log_routes;
mod endpoint_bulk_replay;
mod endpoint_delivery_options;
mod endpoint_examples;
mod endpoint_headers;
mod endpoint_messages;
mod endpoint_secrets;
mod endpoint_stats;
mod endpoint_targets;
mod endpoint_transformations;
mod endpoints;
mod environment;
mod environment_document;
mod erasure;
mod error;
mod event_type_import;
mod event_types;
mod field_error;
pub mod fuzzing;
mod health;
mod idempotency;
mod inbound;
mod input_limits;
mod integrations;
mod json;
mod lookup_first;
mod message_filter;
mod message_logs;
mod message_precheck;
mod message_raw_payload;
mod messages;
mod metrics;
pub mod openapi;
mod operational_webhooks;
mod pagination;
mod params;
mod patch;
mod payload_rejection;
mod polling;
pub mod rate_limit;
mod replay;
mod scoped_routes;
mod stream;
mod tokens;
mod usage_stats;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

use scoped_routes::Capability::{
    CreateAttempts, ManageEndpoint, ManageEndpointSecret, ManageTransformations, ViewEndpointSecret,
};
use scoped_routes::Need::WholeApplication;
use scoped_routes::Scope::{Admin, AppRead, AppWrite, Public};
use scoped_routes::{ScopedRoutes, can, get, post, put};

pub use context::{ApiContext, ApiSettings};
pub use error::ApiError;
pub use scoped_routes::{RouteDecl, Scope};

/// Where the Svix-compatible API lives.
pub const API_PREFIX: &str = "/api/v1";

/// Every route, in the four groups the router mounts differently.
struct DeclaredRoutes {
    /// Under `/api/v1`, behind a token.
    api: ScopedRoutes,
    /// Under `/api/v1`, without one.
    api_public: ScopedRoutes,
    /// The inbound gateway's management routes, behind a token.
    ingest: ScopedRoutes,
    /// The ingest URL, without one.
    ingest_public: ScopedRoutes,
    /// Outside `/api/v1` and without an API token: `/metrics`, where scrapers expect it (with
    /// its own `--metrics-token`, if any).
    root_public: ScopedRoutes,
}

fn declared_routes() -> DeclaredRoutes {
    DeclaredRoutes {
        api: resource_routes()
            .merge(tokens::routes())
            .merge(integrations::routes())
            .merge(operational_webhooks::routes())
            .merge(stream::app_routes())
            .merge(environment::routes())
            .merge(polling::routes()),
        api_public: ScopedRoutes::new(API_PREFIX)
            .route("/health", get(Public, health::get))
            .route("/health/ready", get(Public, health::ready))
            .route("/openapi.json", get(Public, openapi::get)),
        ingest: inbound::management_routes().merge(stream::source_routes()),
        ingest_public: inbound::public_routes(),
        root_public: ScopedRoutes::new("").route("/metrics", get(Public, metrics::get)),
    }
}

/// Every route the router serves, with its declared scope (full paths, `{name}` for path
/// parameters). The scope table test calls each of them.
pub fn route_table() -> Vec<RouteDecl> {
    let declared = declared_routes();
    [
        declared.api,
        declared.api_public,
        declared.ingest,
        declared.ingest_public,
        declared.root_public,
    ]
    .into_iter()
    .flat_map(|routes| routes.into_parts().1)
    .collect()
}

/// The whole API, every route under `/api/v1`, with `beside` (the dashboard's pages) merged
/// in, all inside the access log. Unknown routes and methods under that prefix answer with
/// JSON errors; other paths that `beside` does not know answer an empty 404.
pub fn router(ctx: ApiContext, beside: Router) -> Router {
    let declared = declared_routes();
    let authenticated = declared
        .api
        .into_parts()
        .0
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            idempotency::Idempotency::new(ctx.clone()),
            idempotency::replay_or_record,
        ))
        .layer(from_fn_with_state(ctx.clone(), auth::require_bearer_token));
    let api = declared
        .api_public
        .into_parts()
        .0
        .method_not_allowed_fallback(method_not_allowed)
        .merge(authenticated)
        .fallback(route_not_found)
        // Bodies are read by `json`, which enforces `max_body_bytes` itself; this covers any
        // axum extractor that might read one.
        .layer(DefaultBodyLimit::max(ctx.max_body_bytes))
        // Outermost, so that a request over the budget is refused before anything reads it.
        .layer(from_fn_with_state(
            ctx.clone(),
            body_limits::reserve_and_time_body,
        ));
    // The inbound gateway's routes share the body limits, outside `/api/v1`.
    let ingest = declared
        .ingest
        .into_parts()
        .0
        .route_layer(from_fn_with_state(ctx.clone(), auth::require_bearer_token))
        .merge(declared.ingest_public.into_parts().0)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(ctx.max_body_bytes))
        .layer(from_fn_with_state(
            ctx.clone(),
            body_limits::reserve_and_time_body,
        ));
    let instruments = std::sync::Arc::clone(&ctx.ops.instruments);
    access_log::wrap(
        Router::new()
            .nest(API_PREFIX, api)
            .merge(ingest)
            .merge(declared.root_public.into_parts().0)
            .with_state(ctx)
            .merge(beside),
        instruments,
    )
}

/// Every application route under `/api/v1`, grouped by resource. Reads of an application's
/// records are `AppRead`; changes to them `AppWrite`, each with the portal capability it
/// needs (Svix's mapping; `WholeApplication` for what no capability covers); applications themselves, the event-type
/// catalogue's changes and the environment-wide task list are `Admin`. Revealing an
/// endpoint's signing secret is a write: a read-only token must not be able to sign.
fn resource_routes() -> ScopedRoutes {
    ScopedRoutes::new(API_PREFIX)
        .route(
            "/app",
            get(Admin, applications::list).post(Admin, applications::create),
        )
        .route(
            "/app/{app_id}",
            get(AppRead, applications::get)
                .put(Admin, applications::update)
                .patch(Admin, applications::patch)
                .delete(Admin, applications::delete),
        )
        .route(
            "/app/{app_id}/endpoint",
            get(AppRead, endpoints::list).post(AppWrite(can(ManageEndpoint)), endpoints::create),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}",
            get(AppRead, endpoints::get)
                .put(AppWrite(can(ManageEndpoint)), endpoints::update)
                .patch(AppWrite(can(ManageEndpoint)), endpoints::patch)
                .delete(AppWrite(can(ManageEndpoint)), endpoints::delete),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret",
            get(AppWrite(can(ViewEndpointSecret)), endpoint_secrets::get),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
            post(
                AppWrite(can(ManageEndpointSecret)),
                endpoint_secrets::rotate,
            ),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(AppRead, endpoint_headers::get)
                .put(AppWrite(can(ManageEndpoint)), endpoint_headers::update)
                .patch(AppWrite(can(ManageEndpoint)), endpoint_headers::patch),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/transformation",
            get(AppRead, endpoint_transformations::get).patch(
                AppWrite(can(ManageTransformations)),
                endpoint_transformations::patch,
            ),
        )
        .route(
            "/app/{app_id}/msg",
            get(AppRead, messages::list).post(AppWrite(WholeApplication), messages::create),
        )
        // A read, although Svix makes it a POST: nothing is written.
        .route(
            "/app/{app_id}/msg/precheck/active",
            post(AppRead, message_precheck::precheck),
        )
        // Literal segments beside `/msg/{msg_id}`: each also serves the message of that uid.
        .route(
            "/app/{app_id}/msg/bulk-expunge",
            get(AppRead, erasure::get_bulk_expunge_uid)
                .post(AppWrite(WholeApplication), erasure::bulk_expunge),
        )
        .route(
            "/app/{app_id}/msg/expunge-all-contents",
            get(AppRead, erasure::get_expunge_all_contents_uid)
                .post(AppWrite(WholeApplication), erasure::expunge_all),
        )
        .route("/app/{app_id}/msg/{msg_id}", get(AppRead, messages::get))
        .merge(delivery_log_routes::routes())
        .merge(replay_routes())
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
            post(AppWrite(can(CreateAttempts)), attempts::resend),
        )
        .route(
            "/app/{app_id}/attempt/msg/{msg_id}",
            get(AppRead, attempts::list_by_message),
        )
        .route(
            "/app/{app_id}/attempt/endpoint/{endpoint_id}",
            get(AppRead, attempts::list_by_endpoint),
        )
        // A portal lists the catalogue to subscribe to, so application tokens read it.
        .route(
            "/event-type",
            get(AppRead, event_types::list).post(Admin, event_types::create),
        )
        .route(
            "/event-type/{event_type_name}",
            get(AppRead, event_types::get)
                .put(Admin, event_types::update)
                .patch(Admin, event_types::patch)
                .delete(Admin, event_types::delete),
        )
}

/// Replays, examples sent to one endpoint, and the background tasks that run the long replays. A task is read by its own
/// application's tokens (`ops` checks whose it is); the list spans every application.
fn replay_routes() -> ScopedRoutes {
    ScopedRoutes::new(API_PREFIX)
        .route(
            "/app/{app_id}/msg/{msg_id}/replay",
            post(AppWrite(can(CreateAttempts)), replay::message),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/send-example",
            post(AppWrite(can(CreateAttempts)), endpoint_examples::send),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/recover",
            post(AppWrite(can(CreateAttempts)), replay::recover),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
            post(AppWrite(can(CreateAttempts)), replay::replay_missing),
        )
        .route(
            "/app/{app_id}/replay",
            post(AppWrite(can(CreateAttempts)), replay::bulk),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/bulk-replay",
            post(
                AppWrite(can(CreateAttempts)),
                endpoint_bulk_replay::bulk_replay,
            ),
        )
        // The usage statistics span every application: the admin's.
        .route(
            "/stats/usage/app",
            post(Admin, usage_stats::aggregate_app_stats),
        )
        .route(
            "/stats/usage/event-types",
            put(Admin, usage_stats::aggregate_event_types),
        )
        .route("/background-task", get(Admin, background_tasks::list))
        .route(
            "/background-task/{task_id}",
            get(AppRead, background_tasks::get),
        )
}

async fn route_not_found() -> ApiError {
    ApiError::NotFound("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
