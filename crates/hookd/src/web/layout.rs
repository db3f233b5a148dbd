//! The page shell (navigation, the CSRF token for htmx) and the small pieces every page uses:
//! times, status badges, error boxes, and how an operation's failure is shown.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::portal::PortalPresentation;
use super::security::CSRF_FIELD;
use super::session::Session;
use crate::domain::Timestamp;
use crate::ops::{OpError, Principal};

/// htmx's settings: no inline indicator styles (the CSP forbids them), no eval, and error
/// answers (422, 404) swapped in like any other, so a form shows why it was refused.
const HTMX_CONFIG: &str = r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"selfRequestsOnly":true,"responseHandling":[{"code":"204","swap":false},{"code":"[2345]..","swap":true}]}"#;

/// Which section of the navigation a page belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Applications,
    EventTypes,
    Sources,
    Tasks,
}

/// The header htmx sends from a portal page, so that a request whose session has ended is
/// sent to the portal's page (which may be framed) rather than the admin's login.
pub const PORTAL_HTMX_HEADER: &str = "x-hookd-portal";

/// A whole page for a signed-in session (a portal session's carries the portal's brand).
pub fn page(session: &Session, section: Section, title: &str, content: Markup) -> Markup {
    let headers = if session.is_portal() {
        format!(
            r#"{{"X-CSRF-Token": "{}", "{PORTAL_HTMX_HEADER}": "1"}}"#,
            session.csrf_token
        )
    } else {
        format!(r#"{{"X-CSRF-Token": "{}"}}"#, session.csrf_token)
    };
    let portal = session.portal.as_deref();
    // An application's session (the portal) sees its application and the catalogue; the
    // environment's task list is the admin's.
    let nav: &[(Section, &str, &str)] = match session.principal {
        Principal::Admin => &[
            (Section::Applications, "/", "Applications"),
            (Section::EventTypes, "/event-types", "Event types"),
            (Section::Sources, "/sources", "Inbound sources"),
            (Section::Tasks, "/tasks", "Background tasks"),
        ],
        Principal::App(_) => &[
            (Section::Applications, "/", "Application"),
            (Section::EventTypes, "/event-types", "Event types"),
        ],
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, portal))
            body hx-headers=(headers) {
                div class="shell" {
                    aside class="sidebar" {
                        a class="brand" href="/" { (brand_content(portal)) }
                        nav {
                            @for &(item, href, label) in nav {
                                a href=(href) class=(if item == section { "nav-item active" } else { "nav-item" }) { (label) }
                            }
                            a href="/docs" class="nav-item" { "API reference" }
                        }
                        form class="logout" method="post" action="/logout" {
                            (csrf_field(session))
                            button class="button ghost" type="submit" { "Sign out" }
                        }
                    }
                    main class="content" { (content) }
                }
            }
        }
    }
}

/// A page without navigation (the login, an error before a session exists).
pub fn bare_page(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, None))
            body { (content) }
        }
    }
}

/// A page without navigation in the portal's brand (its login).
pub fn bare_portal_page(portal: &PortalPresentation, title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, Some(portal)))
            body class="portal" { (content) }
        }
    }
}

/// The brand in a `div` of `class`: the portal's name and logo, or hookd's.
pub fn brand(portal: Option<&PortalPresentation>, class: &str) -> Markup {
    html! { div class=(class) { (brand_content(portal)) } }
}

fn brand_content(portal: Option<&PortalPresentation>) -> Markup {
    let name = portal
        .and_then(|portal| portal.name.as_deref())
        .unwrap_or("hookd");
    html! {
        @match portal.and_then(|portal| portal.logo_src.as_deref()) {
            Some(src) => img class="brand-logo" src=(src) alt="";
            None => span class="brand-mark" { (brand_initial(name)) },
        }
        span class="brand-name" data-testid="brand-name" { (name) }
    }
}

/// The letter in the brand's square: hookd's lowercase `h`, a portal name's first letter.
fn brand_initial(name: &str) -> String {
    if name == "hookd" {
        return "h".to_owned();
    }
    name.chars()
        .next()
        .map(|first| first.to_uppercase().collect())
        .unwrap_or_default()
}

fn head(title: &str, portal: Option<&PortalPresentation>) -> Markup {
    let site = portal
        .and_then(|portal| portal.name.as_deref())
        .unwrap_or("hookd");
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="htmx-config" content=(HTMX_CONFIG);
            title { (title) " · " (site) }
            link rel="stylesheet" href="/assets/hookd.css";
            @if portal.is_some() { link rel="stylesheet" href="/assets/brand.css"; }
            script src="/assets/htmx.min.js" defer {}
        }
    }
}

/// The hidden field that carries the session's CSRF token in a form.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name=(CSRF_FIELD) value=(session.csrf_token); }
}

/// A page heading with an optional line under it and actions on the right.
pub fn heading(title: &str, subtitle: Option<Markup>, actions: Option<Markup>) -> Markup {
    html! {
        header class="page-header" {
            div {
                h1 { (title) }
                @if let Some(subtitle) = subtitle { p class="muted" { (subtitle) } }
            }
            @if let Some(actions) = actions { div class="actions" { (actions) } }
        }
    }
}

/// Breadcrumbs: every item but the last is a link.
pub fn crumbs(items: &[(&str, Option<String>)]) -> Markup {
    html! {
        nav class="crumbs" {
            @for (index, (label, href)) in items.iter().enumerate() {
                @if index > 0 { span class="crumb-sep" { "/" } }
                @match href {
                    Some(href) => a href=(href) { (label) },
                    None => span { (label) },
                }
            }
        }
    }
}

pub fn error_fragment(message: &str) -> Markup {
    html! { div class="alert alert-error" role="alert" { (message) } }
}

pub fn success_fragment(message: Markup) -> Markup {
    html! { div class="alert alert-success" role="status" { (message) } }
}

/// How a failed operation is shown inside a page (a form's answer): its status and a box.
pub fn op_error_fragment(error: OpError) -> Response {
    let (status, message) = describe(&error);
    (status, error_fragment(&message)).into_response()
}

/// How a failed operation is shown as a whole page (a missing record is a 404 page).
pub fn op_error_page(error: OpError) -> Response {
    let (status, message) = describe(&error);
    let title = match status {
        StatusCode::NOT_FOUND => "Not found",
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::UNPROCESSABLE_ENTITY | StatusCode::CONFLICT => "Not accepted",
        _ => "Something went wrong",
    };
    let page = bare_page(
        title,
        html! {
            main class="login" {
                div class="card login-card" {
                    h1 { (title) }
                    p { (message) }
                    a class="button" href="/" { "Back to the dashboard" }
                }
            }
        },
    );
    (status, page).into_response()
}

/// A payload's JSON pointer as shown on a page: `/` for the whole payload.
fn display_pointer(pointer: &str) -> &str {
    if pointer.is_empty() { "/" } else { pointer }
}

fn describe(error: &OpError) -> (StatusCode, String) {
    match error {
        OpError::NotFound(what) => (StatusCode::NOT_FOUND, capitalised(what)),
        OpError::Forbidden(why) => (StatusCode::FORBIDDEN, capitalised(why)),
        OpError::Conflict(why) => (StatusCode::CONFLICT, capitalised(why)),
        OpError::PayloadMissing(why) => (StatusCode::BAD_REQUEST, (*why).to_owned()),
        OpError::Invalid(field) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            if field.path.is_empty() {
                capitalised(&field.message)
            } else {
                format!("{}: {}", field.path.join("."), field.message)
            },
        ),
        OpError::PayloadRejected(rejection) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            rejection
                .violations
                .iter()
                .map(|violation| {
                    format!(
                        "payload {}: {}",
                        display_pointer(&violation.pointer),
                        violation.message
                    )
                })
                .collect::<Vec<_>>()
                .join("; "),
        ),
        OpError::Refused(refusal) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            capitalised(&refusal.to_string()),
        ),
        OpError::Store(_) | OpError::Internal(_) => {
            tracing::error!(error = %crate::telemetry::ErrorChain(error), "dashboard operation failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "hookd could not do this right now; the log says why.".to_owned(),
            )
        }
    }
}

/// An input the page itself refused, as a form's answer.
pub fn invalid(message: impl Into<String>) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        error_fragment(&message.into()),
    )
        .into_response()
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// After a form did its work: htmx is told to load `to`, a plain form is redirected there.
pub fn go_to(request_headers: &HeaderMap, to: &str) -> Response {
    if request_headers.contains_key("hx-request") {
        let mut response = StatusCode::OK.into_response();
        if let Ok(value) = HeaderValue::from_str(to) {
            response.headers_mut().insert("hx-redirect", value);
        }
        return response;
    }
    Redirect::to(to).into_response()
}

pub fn time(at: Timestamp) -> Markup {
    html! {
        time datetime=(at.to_rfc3339()) title=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S")) }
    }
}

/// A coloured label: `tone` is one of `ok`, `warn`, `bad`, `info`, `muted`.
pub fn badge(tone: &str, label: &str) -> Markup {
    html! { span class={ "badge badge-" (tone) } { (label) } }
}

/// An empty state inside a card.
pub fn empty(message: &str) -> Markup {
    html! { div class="empty" { (message) } }
}

/// Pretty-printed JSON when the text is JSON, else the text as it is.
pub fn json_block(text: &str) -> Markup {
    let shown = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|value| serde_json::to_string_pretty(&value).ok())
        .unwrap_or_else(|| text.to_owned());
    html! { pre class="code" { code { (shown) } } }
}

/// Text that is already escaped HTML (an inline SVG the charts built).
pub fn raw(text: String) -> Markup {
    PreEscaped(text)
}
