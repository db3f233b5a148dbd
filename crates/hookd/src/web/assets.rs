//! The dashboard's static files, compiled into the binary: htmx 2 (vendored from npm
//! `htmx.org`, `assets/htmx.min.js`), hookd's own stylesheet, and the portal link's script;
//! and the portal's brand, made at start (`brand.css`, a logo file: `portal.rs`).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::WebContext;

const HTMX: &str = include_str!("assets/htmx.min.js");
const STYLESHEET: &str = include_str!("assets/hookd.css");
const PORTAL_LOGIN: &str = include_str!("assets/portal-login.js");

/// `GET /assets/{name}`.
pub async fn serve(State(ctx): State<WebContext>, Path(name): Path<String>) -> Response {
    let (body, content_type): (Body, &str) = match name.as_str() {
        "htmx.min.js" => (HTMX.into(), "text/javascript; charset=utf-8"),
        "hookd.css" => (STYLESHEET.into(), "text/css; charset=utf-8"),
        "portal-login.js" => (PORTAL_LOGIN.into(), "text/javascript; charset=utf-8"),
        "brand.css" => (
            ctx.portal.brand_css.clone().into(),
            "text/css; charset=utf-8",
        ),
        "portal-logo" => match &ctx.portal.logo_file {
            Some((bytes, content_type)) => (bytes.clone().into(), content_type),
            None => return StatusCode::NOT_FOUND.into_response(),
        },
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
