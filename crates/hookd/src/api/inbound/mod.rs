//! The inbound gateway's HTTP edge: the Svix Ingest-compatible management API under
//! `/ingest/api/v1` (admin token; `sources`, `endpoints`) and the unauthenticated ingest URL
//! `/ingest/in/{token}` that providers post to (`receive`). `requests` shows what a source
//! received and replays an accepted request (hookd's own addition).
//!
//! A source's `ingestUrl` is hookd's public URL (`--public-url`, else `http://` and the
//! request's `Host`) followed by `/ingest/in/` and the source's token.

mod endpoints;
mod receive;
mod requests;
mod sources;

use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use super::{ApiContext, auth};

/// Where providers post: `{public base}/ingest/in/{token}`.
pub const INGEST_PATH: &str = "/ingest/in/";

/// The management routes (behind the admin token) and the ingest URL.
pub fn routes(ctx: &ApiContext) -> Router<ApiContext> {
    let management = Router::new()
        .route(
            "/ingest/api/v1/source",
            get(sources::list).post(sources::create),
        )
        .route(
            "/ingest/api/v1/source/{source_id}",
            get(sources::get)
                .put(sources::upsert)
                .delete(sources::delete),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/token/rotate",
            post(sources::rotate_token),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint",
            get(endpoints::list).post(endpoints::create),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
            get(endpoints::get)
                .put(endpoints::update)
                .delete(endpoints::delete),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret",
            get(endpoints::get_secret),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
            post(endpoints::rotate_secret),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
            get(endpoints::get_headers).put(endpoints::update_headers),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/request",
            get(requests::list),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/request/{request_id}",
            get(requests::get),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/request/{request_id}/replay",
            post(requests::replay),
        )
        .route_layer(from_fn_with_state(ctx.clone(), auth::require_bearer_token));
    let ingest = Router::new().route(&format!("{INGEST_PATH}{{token}}"), post(receive::receive));
    management
        .merge(ingest)
        .method_not_allowed_fallback(super::method_not_allowed)
}

/// hookd's public base URL, without a trailing slash.
fn public_base(ctx: &ApiContext, headers: &HeaderMap) -> String {
    match &ctx.public_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let host = headers
                .get(HOST)
                .and_then(|host| host.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}")
        }
    }
}

/// The ingest URL of the source whose token is `token`.
fn ingest_url(ctx: &ApiContext, headers: &HeaderMap, token: &str) -> String {
    format!("{}{INGEST_PATH}{token}", public_base(ctx, headers))
}
