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

pub use requests::InboundRequestOut;
pub use sources::{RotateTokenOut, SourceIn, SourceOut};

use axum::http::HeaderMap;

use super::ApiContext;
use super::endpoint_transformations;
use super::scoped_routes::Scope::{Admin, Public};
use super::scoped_routes::{ScopedRoutes, get, post};

/// Where providers post: `{public base}/ingest/in/{token}`.
pub use crate::domain::public_urls::INGEST_PATH;

/// The management routes (admin only).
pub fn management_routes() -> ScopedRoutes {
    ScopedRoutes::new("")
        .route(
            "/ingest/api/v1/source",
            get(Admin, sources::list).post(Admin, sources::create),
        )
        .route(
            "/ingest/api/v1/source/{source_id}",
            get(Admin, sources::get)
                .put(Admin, sources::upsert)
                .delete(Admin, sources::delete),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/token/rotate",
            post(Admin, sources::rotate_token),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint",
            get(Admin, endpoints::list).post(Admin, endpoints::create),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}",
            get(Admin, endpoints::get)
                .put(Admin, endpoints::update)
                .delete(Admin, endpoints::delete),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret",
            get(Admin, endpoints::get_secret),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/secret/rotate",
            post(Admin, endpoints::rotate_secret),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/headers",
            get(Admin, endpoints::get_headers).put(Admin, endpoints::update_headers),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/endpoint/{endpoint_id}/transformation",
            get(Admin, endpoint_transformations::get_ingest)
                .patch(Admin, endpoint_transformations::patch_ingest),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/request",
            get(Admin, requests::list),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/request/{request_id}",
            get(Admin, requests::get),
        )
        .route(
            "/ingest/api/v1/source/{source_id}/request/{request_id}/replay",
            post(Admin, requests::replay),
        )
}

/// The ingest URL that providers post to, with no token (the source's token is the path).
pub fn public_routes() -> ScopedRoutes {
    ScopedRoutes::new("").route(
        &format!("{INGEST_PATH}{{token}}"),
        post(Public, receive::receive),
    )
}

/// The ingest URL of the source whose token is `token`.
fn ingest_url(ctx: &ApiContext, headers: &HeaderMap, token: &str) -> String {
    crate::domain::public_urls::ingest_url(&ctx.public_base(headers), token)
}
