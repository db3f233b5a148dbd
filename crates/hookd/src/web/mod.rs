//! The dashboard: server-rendered HTML pages for the operator, served at `/` beside the API.
//!
//! The web layer is another client of the operations (`crate::ops`), exactly like `api`: each
//! handler reads the session's `Principal`, calls operations with it, and renders what comes
//! back with compile-time templates (maud). It never touches the store. Its security rules,
//! each in one place:
//! - `session`: the login exchanges a token for a server-side session (`ops::web_sessions`);
//!   the cookie is `HttpOnly; SameSite=Strict; Path=/` (and `Secure` over TLS), or for a
//!   portal session that some site may embed `HttpOnly; SameSite=None; Secure; Partitioned`;
//!   every page but the logins needs a live session.
//! - `security`: every state-changing request carries the session's CSRF token (form field
//!   `csrf` or header `X-CSRF-Token`) and comes from this origin (`Origin`, `Sec-Fetch-Site`);
//!   every response has a Content-Security-Policy without inline scripts or styles,
//!   `frame-ancestors 'none'` (a portal page: the `--portal-frame-ancestors` origins, see
//!   `portal`), `X-Content-Type-Options` and `Referrer-Policy: no-referrer`.
//! - Secrets are only rendered by a POST that asks for them.
//!
//! Assets (htmx 2, vendored from npm `htmx.org`, and one stylesheet) are compiled into the
//! binary (`assets`); nothing is fetched at run time. Pages that a person watches poll a
//! fragment with htmx every few seconds.

mod api_docs;
mod applications;
mod assets;
mod charts;
mod dead_letters;
mod endpoint_headers;
mod endpoints;
mod event_types;
mod layout;
mod messages;
pub mod portal;
mod security;
mod session;
mod source_requests;
mod sources;
mod tasks;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};

use crate::domain::grants::Capability::{
    CreateAttempts, ManageEndpoint, ManageEndpointSecret, ViewBase, ViewEndpointSecret,
};
use crate::domain::grants::{Capability, Need};
use crate::ops::Ops;
use crate::ops::web_sessions::SessionRules;

pub use portal::PortalPresentation;
pub use session::SESSION_COOKIE;

/// What the pages share. Cheap to clone.
#[derive(Clone)]
pub struct WebContext {
    pub ops: Ops,
    /// SHA-256 of the admin token, which the login compares against.
    pub admin_token_sha256: [u8; 32],
    pub sessions: SessionRules,
    /// Whether hookd is served over TLS: then the session cookie is `Secure`.
    pub secure_cookies: bool,
    /// The API's OpenAPI document as JSON, which `/docs` renders.
    pub api_reference: Arc<serde_json::Value>,
    /// The app portal's frame ancestors and brand, worked out at start.
    pub portal: Arc<PortalPresentation>,
    /// hookd's URL as providers reach it (`--public-url`), the base of the ingest URLs shown.
    pub public_url: Option<String>,
}

/// What a state-changing page needs of a portal session's capabilities: Svix's mapping, as
/// the API's route table declares it. A page not listed (creating an application, the
/// sources: admin pages) needs the whole application. Reads need `ViewBase`, which every
/// session has.
const PAGE_NEEDS: &[(&str, Need)] = &[
    ("/apps/{app_id}/endpoints", can(ManageEndpoint)),
    (
        "/apps/{app_id}/endpoints/{endpoint_id}",
        can(ManageEndpoint),
    ),
    (
        "/apps/{app_id}/endpoints/{endpoint_id}/disabled",
        can(ManageEndpoint),
    ),
    (
        "/apps/{app_id}/endpoints/{endpoint_id}/headers",
        can(ManageEndpoint),
    ),
    (
        "/apps/{app_id}/endpoints/{endpoint_id}/headers/remove",
        can(ManageEndpoint),
    ),
    (
        "/apps/{app_id}/endpoints/{endpoint_id}/secret",
        can(ViewEndpointSecret),
    ),
    (
        "/apps/{app_id}/endpoints/{endpoint_id}/secret/rotate",
        can(ManageEndpointSecret),
    ),
    ("/apps/{app_id}/test-event", can(CreateAttempts)),
    ("/apps/{app_id}/dead-letters/dry-run", can(ViewBase)),
    ("/apps/{app_id}/dead-letters/replay", can(CreateAttempts)),
    ("/logout", can(ViewBase)),
];

/// The need of the state-changing page whose route is `page` (`PAGE_NEEDS`).
fn page_need(page: &str) -> Need {
    PAGE_NEEDS
        .iter()
        .find(|(path, _)| *path == page)
        .map_or(Need::WholeApplication, |(_, need)| *need)
}

const fn can(capability: Capability) -> Need {
    Need::Capability(capability)
}

/// Every page of the dashboard. Paths it does not know are left to the caller's router.
pub fn router(ctx: WebContext) -> Router {
    let pages = Router::new()
        .route("/", get(applications::list))
        .route("/apps", post(applications::create))
        .route("/apps/{app_id}", get(applications::show))
        .route("/apps/{app_id}/endpoints", post(endpoints::create))
        .route(
            "/apps/{app_id}/endpoints/{endpoint_id}",
            get(endpoints::show).post(endpoints::update),
        )
        .route(
            "/apps/{app_id}/endpoints/{endpoint_id}/disabled",
            post(endpoints::set_disabled),
        )
        .route(
            "/apps/{app_id}/endpoints/{endpoint_id}/headers",
            post(endpoint_headers::set),
        )
        .route(
            "/apps/{app_id}/endpoints/{endpoint_id}/headers/remove",
            post(endpoint_headers::remove),
        )
        .route(
            "/apps/{app_id}/endpoints/{endpoint_id}/secret",
            post(endpoints::reveal_secret),
        )
        .route(
            "/apps/{app_id}/endpoints/{endpoint_id}/secret/rotate",
            post(endpoints::rotate_secret),
        )
        .route("/apps/{app_id}/test-event", post(messages::send_test_event))
        .route(
            "/apps/{app_id}/test-event/payload",
            get(messages::test_event_payload),
        )
        .route("/apps/{app_id}/messages", get(messages::list))
        .route("/apps/{app_id}/messages/{msg_id}", get(messages::show))
        .route(
            "/apps/{app_id}/messages/{msg_id}/attempts",
            get(messages::attempts_fragment),
        )
        .route("/apps/{app_id}/dead-letters", get(dead_letters::show))
        .route(
            "/apps/{app_id}/dead-letters/list",
            get(dead_letters::list_fragment),
        )
        .route(
            "/apps/{app_id}/dead-letters/dry-run",
            post(dead_letters::dry_run),
        )
        .route(
            "/apps/{app_id}/dead-letters/replay",
            post(dead_letters::replay),
        )
        .route("/tasks", get(tasks::list))
        .route("/tasks/list", get(tasks::list_fragment))
        .route("/tasks/{task_id}", get(tasks::show))
        .route("/event-types", get(event_types::list))
        .route("/sources", get(sources::list))
        .route("/sources/{source_id}", get(sources::show))
        .route(
            "/sources/{source_id}/secrets",
            post(sources::reveal_secrets),
        )
        .route(
            "/sources/{source_id}/requests",
            get(source_requests::list_fragment),
        )
        .route(
            "/sources/{source_id}/requests/{request_id}/replay",
            post(source_requests::replay),
        )
        .route("/logout", post(session::logout))
        .route_layer(axum::middleware::from_fn(security::require_csrf_token))
        .route_layer(from_fn_with_state(ctx.clone(), session::require_session));
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route(
            "/portal/login",
            get(session::portal_login_page).post(session::portal_login),
        )
        .route("/docs", get(api_docs::page))
        .merge(pages)
        .route_layer(axum::middleware::from_fn(security::require_same_origin))
        .route("/assets/{name}", get(assets::serve))
        .route_layer(from_fn_with_state(
            ctx.clone(),
            security::add_security_headers,
        ))
        .with_state(ctx)
}
