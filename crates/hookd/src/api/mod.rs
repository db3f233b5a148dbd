//! The HTTP API: the only module that knows status codes, routes and JSON shapes.
//!
//! Handlers parse requests into domain types at the edge, call one operation (`crate::ops`) as
//! the authenticated `Principal`, and render its result in Svix's wire format; `error` maps the
//! operations' `OpError` to HTTP. Handlers contain no workflow, no scope check and no SQL.
//!
//! A request passes through, in order: the bearer-token check (`auth`), the `Idempotency-Key`
//! replay layer (`idempotency`), body and query parsing (`json`, `params`; a missing target is
//! answered before invalid input, `lookup_first`), one handler module per
//! resource, and `error`, which renders every failure as JSON. Around all of it, the access
//! log (`access_log`) gives each request an `x-request-id`, logs one line when it is answered
//! and counts it by route template and status class. An authenticated caller over its
//! per-token rate limit is answered 429 right after `auth` (`rate_limit`). `GET /metrics`
//! (`metrics`) renders the Prometheus series; `/api/v1/health/ready` is readiness (`health`).

mod access_log;
mod applications;
mod attempts;
mod auth;
mod background_tasks;
pub mod body_limits;
mod dead_letters;
mod endpoint_delivery_options;
mod endpoint_headers;
mod endpoint_secrets;
mod endpoint_stats;
mod endpoint_targets;
mod endpoints;
mod error;
mod event_types;
mod health;
mod idempotency;
mod inbound;
mod input_limits;
mod json;
mod lookup_first;
mod message_filter;
mod message_logs;
mod messages;
mod metrics;
mod operational_webhooks;
mod pagination;
mod params;
mod patch;
pub mod rate_limit;
mod replay;
mod stream;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{delete, get, post};

use crate::ops::Ops;

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct ApiContext {
    /// The operations every handler calls, with the store and services they need.
    pub ops: Ops,
    /// SHA-256 of the admin bearer token; the token itself is never kept.
    pub admin_token_sha256: [u8; 32],
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// The read deadline of request bodies and the budget of body bytes in progress.
    pub body_limits: body_limits::BodyLimits,
    /// How long an `Idempotency-Key` is remembered; a repeat after this runs as a new request.
    pub idempotency_window: std::time::Duration,
    /// hookd's URL as providers reach it (`--public-url`), the base of every `ingestUrl`;
    /// without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// SHA-256 of `--metrics-token`; `None` leaves `/metrics` open.
    pub metrics_token_sha256: Option<[u8; 32]>,
    /// The per-token request rate limit; `None` when `--api-rate-limit` is 0.
    pub rate_limit: Option<std::sync::Arc<rate_limit::TokenRateLimit>>,
}

pub use error::ApiError;

/// The whole API, every route under `/api/v1`. Unknown routes and methods under that prefix
/// answer with JSON errors; paths outside it are left to whatever the caller merges this with.
pub fn router(ctx: ApiContext) -> Router {
    let authenticated = resource_routes()
        .merge(operational_routes())
        .merge(stream::app_routes())
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(
            idempotency::Idempotency::new(ctx.clone()),
            idempotency::replay_or_record,
        ))
        .layer(from_fn_with_state(ctx.clone(), auth::require_bearer_token));
    let api = Router::new()
        .route("/health", get(health::get))
        .route("/health/ready", get(health::ready))
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
    let ingest = inbound::routes(&ctx)
        .merge(stream::source_routes(&ctx))
        .layer(DefaultBodyLimit::max(ctx.max_body_bytes))
        .layer(from_fn_with_state(
            ctx.clone(),
            body_limits::reserve_and_time_body,
        ));
    let instruments = std::sync::Arc::clone(&ctx.ops.instruments);
    access_log::wrap(
        Router::new()
            .nest("/api/v1", api)
            .merge(ingest)
            // Outside `/api/v1`, as scrapers expect; its own token, if any (`metrics`).
            .route("/metrics", get(metrics::get))
            .with_state(ctx),
        instruments,
    )
}

/// Every route that needs a token, grouped by resource.
fn resource_routes() -> Router<ApiContext> {
    Router::new()
        .route("/app", get(applications::list).post(applications::create))
        .route(
            "/app/{app_id}",
            get(applications::get)
                .put(applications::update)
                .patch(applications::patch)
                .delete(applications::delete),
        )
        .route(
            "/app/{app_id}/endpoint",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}",
            get(endpoints::get)
                .put(endpoints::update)
                .patch(endpoints::patch)
                .delete(endpoints::delete),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret",
            get(endpoint_secrets::get),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/secret/rotate",
            post(endpoint_secrets::rotate),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/headers",
            get(endpoint_headers::get)
                .put(endpoint_headers::update)
                .patch(endpoint_headers::patch),
        )
        .route(
            "/app/{app_id}/msg",
            get(messages::list).post(messages::create),
        )
        .route("/app/{app_id}/msg/{msg_id}", get(messages::get))
        .merge(delivery_log_routes())
        .merge(replay_routes())
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend",
            post(attempts::resend),
        )
        .route(
            "/app/{app_id}/attempt/msg/{msg_id}",
            get(attempts::list_by_message),
        )
        .route(
            "/app/{app_id}/attempt/endpoint/{endpoint_id}",
            get(attempts::list_by_endpoint),
        )
        .route(
            "/event-type",
            get(event_types::list).post(event_types::create),
        )
        .route(
            "/event-type/{event_type_name}",
            get(event_types::get)
                .put(event_types::update)
                .patch(event_types::patch)
                .delete(event_types::delete),
        )
}

/// The delivery-log calls: a message's destinations and attempts, expunging content, the
/// dead-letter view, endpoint statistics.
fn delivery_log_routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/app/{app_id}/msg/{msg_id}/content",
            delete(message_logs::expunge_content),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/endpoint",
            get(message_logs::list_destinations),
        )
        .route(
            "/app/{app_id}/msg/{msg_id}/attempt/{attempt_id}",
            get(message_logs::get_attempt),
        )
        .route("/app/{app_id}/dead-letter", get(dead_letters::list))
        .route(
            "/app/{app_id}/dead-letter/summary",
            get(dead_letters::summary),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/stats",
            get(endpoint_stats::get),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/stats/window",
            get(endpoint_stats::window),
        )
}

/// Replays and the background tasks that run the long ones.
fn replay_routes() -> Router<ApiContext> {
    Router::new()
        .route("/app/{app_id}/msg/{msg_id}/replay", post(replay::message))
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/recover",
            post(replay::recover),
        )
        .route(
            "/app/{app_id}/endpoint/{endpoint_id}/replay-missing",
            post(replay::replay_missing),
        )
        .route("/app/{app_id}/replay", post(replay::bulk))
        .route("/background-task", get(background_tasks::list))
        .route("/background-task/{task_id}", get(background_tasks::get))
}

/// The operational webhook endpoints (`crate::operational`): endpoints of the internal
/// application, which only these routes reach.
fn operational_routes() -> Router<ApiContext> {
    Router::new()
        .route(
            "/operational-webhook/endpoint",
            get(operational_webhooks::list).post(operational_webhooks::create),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}",
            get(operational_webhooks::get)
                .put(operational_webhooks::update)
                .patch(operational_webhooks::patch)
                .delete(operational_webhooks::delete),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/secret",
            get(operational_webhooks::get_secret),
        )
        .route(
            "/operational-webhook/endpoint/{endpoint_id}/secret/rotate",
            post(operational_webhooks::rotate_secret),
        )
}

async fn route_not_found() -> ApiError {
    ApiError::NotFound("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
