//! Logging in and out, and the session every page needs.
//!
//! The login takes the admin token (its SHA-256 compared with the stored one in constant time,
//! as `api/auth.rs` does) or an application token (found by its hash, as the API finds it),
//! and `ops::web_sessions::start` exchanges it for a session. The app portal's link
//! (`/portal/login#token=...`, from `app-portal-access`) carries the token in its fragment,
//! which browsers never send: the portal page's script posts it to the login and takes it out
//! of the address bar, so the token appears in no request line, log or history entry.

use crate::domain::tokens::token_sha256;
use axum::Form;
use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::WebContext;
use super::layout;
use super::page_need;
use super::portal::PortalPresentation;
use super::security::PortalPage;
use crate::ops::Principal;
use crate::ops::tokens;
use crate::ops::web_sessions::{self, Grant, StartedSession};

/// The cookie that holds the session id.
pub const SESSION_COOKIE: &str = "hookd_session";

/// The live session of a request, put in its extensions by `require_session`.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf_token: String,
    /// The portal's brand, for a session of an application token (a portal session); `None`
    /// for the admin's.
    pub portal: Option<Arc<PortalPresentation>>,
    /// The id from the cookie, so that logout can end it.
    session_id: String,
}

impl Session {
    pub fn is_portal(&self) -> bool {
        self.portal.is_some()
    }

    /// Whether this session may send the state-changing page whose route is `page` (a route
    /// of `PAGE_NEEDS`, such as `/apps/{app_id}/endpoints`): a read-only session only
    /// `/logout`, a portal session what its capabilities allow (`Grants::allows`, as the API).
    /// `security::require_csrf_token` refuses by it, and the pages show only the forms it
    /// allows.
    pub fn may_post(&self, page: &str) -> bool {
        match &self.principal {
            Principal::Admin => true,
            Principal::App(scope) => {
                (!scope.read_only || page == "/logout") && scope.grants.allows(page_need(page))
            }
        }
    }
}

/// Middleware: the request goes on only with a live session; otherwise an htmx request gets
/// 401 with `HX-Redirect: /login`, and any other request a 303 to the login page (nothing
/// runs either way).
pub async fn require_session(
    State(ctx): State<WebContext>,
    mut request: Request,
    next: Next,
) -> Response {
    let session_id = session_cookie(request.headers());
    let resumed = match session_id {
        Some(id) => web_sessions::resume(&ctx.ops, &id, ctx.sessions)
            .await
            .map(|found| found.map(|active| (id, active))),
        None => Ok(None),
    };
    match resumed {
        Ok(Some((session_id, active))) => {
            let portal =
                matches!(active.principal, Principal::App(_)).then(|| Arc::clone(&ctx.portal));
            let is_portal = portal.is_some();
            request.extensions_mut().insert(Session {
                principal: active.principal,
                csrf_token: active.csrf_token,
                portal,
                session_id,
            });
            let mut response = next.run(request).await;
            if is_portal {
                response.extensions_mut().insert(PortalPage);
            }
            response
        }
        Ok(None) => to_login(request.headers()),
        Err(error) => layout::op_error_page(error),
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    token: String,
}

/// `GET /login`.
pub async fn login_page() -> Markup {
    login_markup(None)
}

/// `POST /login`: the admin token, or an application token, for a session.
pub async fn login(State(ctx): State<WebContext>, Form(form): Form<LoginForm>) -> Response {
    let token = form.token.trim();
    if token.is_empty() {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            login_markup(Some("Paste the admin token to sign in.")),
        )
            .into_response();
    }
    let sha256 = token_sha256(token);
    let grant = if bool::from(sha256.ct_eq(&ctx.admin_token_sha256)) {
        Grant::Admin
    } else {
        match tokens::authenticate(&ctx.ops, sha256).await {
            Ok(Some(_)) => Grant::AppToken { sha256 },
            Ok(None) => {
                return (
                    StatusCode::UNAUTHORIZED,
                    login_markup(Some(
                        "That token is not valid here: not the admin token, and not a live application token (a portal link may have expired).",
                    )),
                )
                    .into_response();
            }
            Err(error) => return layout::op_error_page(error),
        }
    };
    match start_session(&ctx, &grant).await {
        Ok(response) => response,
        Err(response) => response,
    }
}

#[derive(Debug, Deserialize)]
pub struct PortalLoginQuery {
    /// Set when the page is shown because a portal session ended (signed out, or expired).
    #[serde(default)]
    ended: Option<String>,
}

/// `GET /portal/login`: the page a portal link opens. Its script reads the token from the
/// link's fragment, removes it from the address bar and posts it to `/portal/login`. It is
/// also where an ended portal session lands (`?ended`), since it is the one page without a
/// session that the portal's embedding sites may frame.
pub async fn portal_login_page(
    State(ctx): State<WebContext>,
    Query(query): Query<PortalLoginQuery>,
) -> Response {
    let message = if query.ended.is_some() {
        PORTAL_ENDED
    } else {
        "This page needs JavaScript to read its link. If nothing happens, ask for a new portal link."
    };
    portal_login_markup(&ctx, StatusCode::OK, message, query.ended.is_some())
}

/// `POST /portal/login`: an application token (from the link's fragment) for a session. Only
/// an application token: the admin's signs in at `/login`, a page no site may frame.
pub async fn portal_login(State(ctx): State<WebContext>, Form(form): Form<LoginForm>) -> Response {
    let sha256 = token_sha256(form.token.trim());
    match tokens::authenticate(&ctx.ops, sha256).await {
        Ok(Some(Principal::App(_))) => {}
        Ok(_) => {
            return portal_login_markup(
                &ctx,
                StatusCode::UNAUTHORIZED,
                "This portal link has expired or is not valid. Ask for a new one.",
                true,
            );
        }
        Err(error) => return layout::op_error_page(error),
    }
    let mut response = match start_session(&ctx, &Grant::AppToken { sha256 }).await {
        Ok(response) | Err(response) => response,
    };
    response.extensions_mut().insert(PortalPage);
    response
}

const PORTAL_ENDED: &str =
    "This portal session has ended. Open the portal again from where you found its link.";

fn portal_login_markup(
    ctx: &WebContext,
    status: StatusCode,
    message: &str,
    ended: bool,
) -> Response {
    let page = layout::bare_portal_page(
        &ctx.portal,
        "Opening the portal",
        html! {
            main class="login" {
                form id="portal-login" class="card login-card" method="post" action="/portal/login" {
                    (layout::brand(Some(&ctx.portal), "brand brand-large"))
                    h1 { "Opening the portal" }
                    p class="muted" id="portal-status" data-ended=[ended.then_some("true")] { (message) }
                    input type="hidden" name="token" id="portal-token";
                }
            }
            @if !ended { script src="/assets/portal-login.js" defer {} }
        },
    );
    let mut response = (status, page).into_response();
    response.extensions_mut().insert(PortalPage);
    response
}

/// Starts a session for `grant`, which the caller has authenticated by its token, and
/// answers with its cookie and a redirect to the dashboard (an application's session goes on
/// to its application's page).
pub async fn start_session(ctx: &WebContext, grant: &Grant) -> Result<Response, Response> {
    let StartedSession { session_id } = web_sessions::start(&ctx.ops, grant, ctx.sessions)
        .await
        .map_err(layout::op_error_page)?;
    let portal = matches!(grant, Grant::AppToken { .. });
    let cookie = session_cookie_header(ctx, portal, &session_id, ctx.sessions.absolute.as_secs());
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `POST /logout`: ends the session and clears the cookie.
pub async fn logout(
    State(ctx): State<WebContext>,
    axum::Extension(session): axum::Extension<Session>,
) -> Response {
    if let Err(error) = web_sessions::end(&ctx.ops, &session.session_id).await {
        return layout::op_error_page(error);
    }
    let portal = session.is_portal();
    let to = if portal { PORTAL_ENDED_PATH } else { "/login" };
    let mut response = Redirect::to(to).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie_header(&ctx, portal, "", 0),
    );
    response
}

/// Where a portal session that ended goes: the portal's login page, which may be framed.
const PORTAL_ENDED_PATH: &str = "/portal/login?ended";

/// The session cookie. A portal session's, when some site may embed the portal, is
/// `SameSite=None` (a framed page on another site is sent no other), which browsers accept
/// only with `Secure`, and `Partitioned` (CHIPS: kept per embedding site, so it cannot follow
/// the user from site to site). `Secure` is set then even over plain HTTP: hookd is then
/// behind a proxy that terminates TLS, or on loopback, which browsers treat as secure; on any
/// other plain-HTTP origin the browser drops the cookie and the embedded portal cannot sign in.
fn session_cookie_header(
    ctx: &WebContext,
    portal: bool,
    value: &str,
    max_age_seconds: u64,
) -> HeaderValue {
    let attributes = if portal && ctx.portal.embeddable {
        "SameSite=None; Secure; Partitioned"
    } else if ctx.secure_cookies {
        "SameSite=Strict; Secure"
    } else {
        "SameSite=Strict"
    };
    let cookie = format!(
        "{SESSION_COOKIE}={value}; HttpOnly; {attributes}; Path=/; Max-Age={max_age_seconds}"
    );
    HeaderValue::from_str(&cookie).expect("a session id is hex")
}

/// The session id in the request's cookies, if any.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| *name == SESSION_COOKIE && !value.is_empty())
        .map(|(_, value)| value.to_owned())
}

/// Where a request without a session goes: htmx follows `HX-Redirect`, a page load a 303.
/// Inside a frame (`Sec-Fetch-Dest: iframe`, or htmx on a portal page, which says so in a
/// header) that is the portal's page saying the session ended, since the admin's login may
/// not be framed.
fn to_login(headers: &HeaderMap) -> Response {
    let framed = headers
        .get("sec-fetch-dest")
        .is_some_and(|dest| dest == "iframe" || dest == "frame")
        || headers.contains_key(layout::PORTAL_HTMX_HEADER);
    let to = if framed { PORTAL_ENDED_PATH } else { "/login" };
    if headers.contains_key("hx-request") {
        let mut response = StatusCode::UNAUTHORIZED.into_response();
        response
            .headers_mut()
            .insert("hx-redirect", HeaderValue::from_static(to));
        return response;
    }
    Redirect::to(to).into_response()
}

fn login_markup(error: Option<&str>) -> Markup {
    layout::bare_page(
        "Sign in",
        html! {
            main class="login" {
                form class="card login-card" method="post" action="/login" {
                    (layout::brand(None, "brand brand-large"))
                    h1 { "Sign in to the dashboard" }
                    p class="muted" {
                        "Paste the admin token: the one hookd printed on its first start, or "
                        code { "HOOKD_ADMIN_TOKEN" } "."
                    }
                    @if let Some(error) = error { div class="alert alert-error" role="alert" { (error) } }
                    label for="token" { "Admin token" }
                    input id="token" name="token" type="password" autocomplete="off" required autofocus;
                    button class="button primary" type="submit" { "Sign in" }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; hookd_session=abc; c=d"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc"));
        headers.insert(header::COOKIE, HeaderValue::from_static("hookd_session="));
        assert_eq!(session_cookie(&headers), None);
    }
}
