//! The rules every dashboard request and response keeps: same-origin state changes, the CSRF
//! token, a portal session's read-only flag and capabilities (`page_need`), and the security
//! headers.

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::WebContext;
use super::layout;
use super::portal::DASHBOARD_CSP;
use super::session::Session;
use crate::ops::Principal;

/// The header htmx sends the CSRF token in (set once on `<body hx-headers>`).
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The hidden form field every form carries.
pub const CSRF_FIELD: &str = "csrf";
/// The largest form the dashboard reads (a test event's payload is the biggest field).
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// Put in a response's extensions by whatever answers a portal page (a session of an
/// application token, the portal's login): it gets the portal's policy instead of the
/// dashboard's.
#[derive(Debug, Clone, Copy)]
pub struct PortalPage;

/// Adds the security headers to every dashboard response: the portal's policy to portal pages
/// (frameable by `--portal-frame-ancestors`), the dashboard's (`frame-ancestors 'none'`) to the
/// rest.
pub async fn add_security_headers(
    State(ctx): State<WebContext>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let portal = response.extensions().get::<PortalPage>().is_some();
    let headers = response.headers_mut();
    let policy = if portal {
        HeaderValue::from_str(&ctx.portal.content_security_policy)
            .unwrap_or(HeaderValue::from_static(DASHBOARD_CSP))
    } else {
        HeaderValue::from_static(DASHBOARD_CSP)
    };
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Browsers that know `frame-ancestors` ignore this; older ones would refuse every frame.
    if !(portal && ctx.portal.embeddable) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

/// Refuses a state-changing request that a browser says came from another site. Requests
/// without `Origin` or `Sec-Fetch-Site` (not a browser) still need the CSRF token.
pub async fn require_same_origin(request: Request, next: Next) -> Response {
    if is_safe(request.method()) || is_same_origin(request.headers()) {
        return next.run(request).await;
    }
    refusal("This request came from another site, so it was refused.")
}

/// Refuses a state-changing request whose CSRF token (header or form field) is not the
/// session's. The body is read here (forms are small) and handed on unchanged.
pub async fn require_csrf_token(request: Request, next: Next) -> Response {
    if is_safe(request.method()) {
        return next.run(request).await;
    }
    let page = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_default();
    let Some((expected, read_only, allowed)) =
        request.extensions().get::<Session>().map(|session| {
            let read_only = matches!(&session.principal, Principal::App(scope) if scope.read_only);
            (
                session.csrf_token.clone(),
                read_only,
                session.may_post(&page),
            )
        })
    else {
        return refusal("There is no session for this request.");
    };
    let from_header = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let (parts, body) = request.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            layout::error_fragment("The form is too large."),
        )
            .into_response();
    };
    let presented = from_header.or_else(|| {
        form_urlencoded::parse(&bytes)
            .find(|(name, _)| name == CSRF_FIELD)
            .map(|(_, value)| value.into_owned())
    });
    let matches = presented
        .is_some_and(|presented| bool::from(presented.as_bytes().ct_eq(expected.as_bytes())));
    if !matches {
        return refusal("The form's security token is missing or out of date: reload the page.");
    }
    if read_only && !allowed {
        return refusal("This session is read-only.");
    }
    if !allowed {
        return refusal("This session's capabilities do not allow this.");
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `Sec-Fetch-Site` when the browser sends it (`same-origin`, or `none`: a request the user
/// started, such as a typed address, which another site cannot make a browser send), else
/// `Origin` against `Host`; neither header means the caller is not a browser.
fn is_same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!((origin_host, host), (Some(origin_host), Some(host)) if origin_host == host)
}

fn refusal(message: &str) -> Response {
    (StatusCode::FORBIDDEN, layout::error_fragment(message)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origins() {
        let cases: &[(&[(&str, &str)], bool)] = &[
            (&[], true),
            (&[("sec-fetch-site", "same-origin")], true),
            (&[("sec-fetch-site", "cross-site")], false),
            (&[("sec-fetch-site", "same-site")], false),
            (&[("origin", "http://h:1"), ("host", "h:1")], true),
            (&[("origin", "https://h:1"), ("host", "h:1")], true),
            (&[("origin", "http://evil"), ("host", "h:1")], false),
            (&[("origin", "null"), ("host", "h:1")], false),
        ];
        for (pairs, expected) in cases {
            assert_eq!(is_same_origin(&headers(pairs)), *expected, "{pairs:?}");
        }
    }
}
