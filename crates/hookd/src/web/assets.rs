//! The dashboard's static files, compiled into the binary: htmx 2 (vendored from npm
//! `htmx.org`, `assets/htmx.min.js`), hookd's own stylesheet, and the portal link's script.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

const HTMX: &str = include_str!("assets/htmx.min.js");
const STYLESHEET: &str = include_str!("assets/hookd.css");
const PORTAL_LOGIN: &str = include_str!("assets/portal-login.js");

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "htmx.min.js" => (HTMX, "text/javascript; charset=utf-8"),
        "hookd.css" => (STYLESHEET, "text/css; charset=utf-8"),
        "portal-login.js" => (PORTAL_LOGIN, "text/javascript; charset=utf-8"),
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
