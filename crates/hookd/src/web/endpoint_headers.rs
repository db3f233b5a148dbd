//! An endpoint's custom headers on its page: listed (a credential's value never shown), added
//! or replaced, and removed, under `domain::endpoint_headers`' rules, the API's own. A change
//! runs inside the endpoint's write (`endpoints::modify`), so it merges with the headers as
//! they are then. htmx swaps the card in place; a plain form is sent back to the page.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::WebContext;
use super::layout;
use super::session::Session;
use crate::domain::endpoint_headers::{is_sensitive, merge_headers};
use crate::ops::{AppRef, endpoints};
use crate::store::{ChangeRefused, EndpointChange};

#[derive(Debug, Deserialize)]
pub struct HeaderForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

/// `POST /apps/{app_id}/endpoints/{endpoint_id}/headers`: sets one header (replacing any
/// spelling of its name).
pub async fn set(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HeaderForm>,
) -> Response {
    let name = form.name.trim().to_owned();
    if name.is_empty() {
        return refused(layout::invalid("Give the header a name."));
    }
    let change = BTreeMap::from([(name, Some(form.value.trim().to_owned()))]);
    apply(&ctx, &session, &app_id, &endpoint_id, &headers, change).await
}

/// `POST /apps/{app_id}/endpoints/{endpoint_id}/headers/remove`: removes one header.
pub async fn remove(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<HeaderForm>,
) -> Response {
    let change = BTreeMap::from([(form.name.trim().to_owned(), None)]);
    apply(&ctx, &session, &app_id, &endpoint_id, &headers, change).await
}

async fn apply(
    ctx: &WebContext,
    session: &Session,
    app_id: &str,
    endpoint_id: &str,
    request_headers: &HeaderMap,
    changes: BTreeMap<String, Option<String>>,
) -> Response {
    let change: EndpointChange = Box::new(move |current| {
        let mut fields = current.fields.clone();
        fields.headers = merge_headers(fields.headers, changes)
            .map_err(|error| ChangeRefused(Box::new(error)))?;
        Ok(fields)
    });
    let principal = &session.principal;
    match endpoints::modify(
        &ctx.ops,
        principal,
        AppRef::Named(app_id),
        endpoint_id,
        None,
        change,
    )
    .await
    {
        Ok(endpoint) if request_headers.contains_key("hx-request") => {
            let base = format!("/apps/{}/endpoints/{}", endpoint.app_id, endpoint.id);
            card(session, &base, &endpoint.fields.headers).into_response()
        }
        Ok(endpoint) => layout::go_to(
            request_headers,
            &format!("/apps/{}/endpoints/{}", endpoint.app_id, endpoint.id),
        ),
        Err(error) => refused(layout::op_error_fragment(error)),
    }
}

/// A refusal shown in the card's message box, the card itself left as it is.
fn refused(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        "hx-retarget",
        HeaderValue::from_static("#custom-headers-result"),
    );
    headers.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
    response
}

/// The card: every header with a remove button, and a form for one more (both only for a
/// session that may change them).
pub fn card(session: &Session, base: &str, headers: &BTreeMap<String, String>) -> Markup {
    let set = format!("{base}/headers");
    let remove = format!("{base}/headers/remove");
    // Setting and removing need the same capability (`PAGE_NEEDS`).
    let may_change = session.may_post("/apps/{app_id}/endpoints/{endpoint_id}/headers")
        && session.may_post("/apps/{app_id}/endpoints/{endpoint_id}/headers/remove");
    html! {
        section class="card" id="custom-headers" data-testid="custom-headers" {
            div class="card-header" { h2 { "Custom headers" } }
            p class="muted small" { "Sent with every delivery to this endpoint. Credentials (" code { "Authorization" } ", " code { "Cookie" } ", API keys) are sent but never shown again." }
            @if headers.is_empty() {
                (layout::empty("No custom headers."))
            } @else {
                table class="table compact" {
                    thead { tr { th { "Header" } th { "Value" } @if may_change { th {} } } }
                    tbody {
                        @for (name, value) in headers {
                            tr data-testid="custom-header" {
                                td { code { (name) } }
                                td {
                                    @if is_sensitive(name) { span class="muted" { "hidden" } }
                                    @else { code { (value) } }
                                }
                                @if may_change { td {
                                    form method="post" action=(remove) hx-post=(remove) hx-target="#custom-headers" hx-swap="outerHTML" {
                                        (layout::csrf_field(session))
                                        input type="hidden" name="name" value=(name);
                                        button class="button danger button-small" type="submit" { "Remove" }
                                    }
                                } }
                            }
                        }
                    }
                }
            }
            @if may_change {
                form class="form-inline header-form" method="post" action=(set) hx-post=(set) hx-target="#custom-headers" hx-swap="outerHTML" {
                    (layout::csrf_field(session))
                    input name="name" type="text" placeholder="X-Header-Name" aria-label="Header name" required;
                    input name="value" type="text" placeholder="value" aria-label="Header value";
                    button class="button" type="submit" { "Set header" }
                }
            }
            div id="custom-headers-result" {}
        }
    }
}
