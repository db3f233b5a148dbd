//! The inbound gateway's pages (admin only, as `ops::inbound` decides): every source, and one
//! source with its ingest URL, its configuration (the secrets it verifies with shown only by a
//! POST that asks for them) and its request log (`source_requests.rs`).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header::HOST};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::WebContext;
use super::applications::first_page;
use super::layout::{self, Section};
use super::session::Session;
use super::source_requests;
use crate::domain::inbound::{GenericCheck, Source};
use crate::domain::public_urls;
use crate::ops::{OpResult, inbound};

/// `GET /sources`.
pub async fn list(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> Response {
    match render_list(&ctx, &session, &headers).await {
        Ok(page) => page.into_response(),
        Err(error) => layout::op_error_page(error),
    }
}

async fn render_list(ctx: &WebContext, session: &Session, headers: &HeaderMap) -> OpResult<Markup> {
    let sources = inbound::list_sources(&ctx.ops, &session.principal, first_page()).await?;
    let content = html! {
        (layout::heading("Inbound sources", Some(html! {
            "Providers (Stripe, GitHub, Shopify, ...) post to a source's ingest URL; hookd verifies each request and forwards it. Sources are created through "
            code { "POST /ingest/api/v1/source" } "."
        }), None))
        section class="card" {
            @if sources.items.is_empty() {
                (layout::empty("No inbound sources yet."))
            } @else {
                table class="table" data-testid="sources" {
                    thead { tr { th { "Name" } th { "Type" } th { "Ingest URL" } th { "Created" } } }
                    tbody {
                        @for source in &sources.items {
                            tr {
                                td { a href={ "/sources/" (source.id) } { (source.fields.name) } div class="muted small mono" { (source.id) } }
                                td { (layout::badge("info", source.fields.source_type.as_str())) }
                                td class="mono small" { span class="truncate" title=(ingest_url(ctx, headers, source)) { (ingest_url(ctx, headers, source)) } }
                                td { (layout::time(source.created_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(layout::page(
        session,
        Section::Sources,
        "Inbound sources",
        content,
    ))
}

/// `GET /sources/{source_id}`.
pub async fn show(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(source_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match render(&ctx, &session, &source_id, &headers).await {
        Ok(page) => page.into_response(),
        Err(error) => layout::op_error_page(error),
    }
}

async fn render(
    ctx: &WebContext,
    session: &Session,
    source_id: &str,
    headers: &HeaderMap,
) -> OpResult<Markup> {
    let source = inbound::get_source(&ctx.ops, &session.principal, source_id).await?;
    let requests = source_requests::table(ctx, session, &source).await?;
    let base = format!("/sources/{}", source.id);
    let fields = &source.fields;
    let config = &fields.config;
    let content = html! {
        (layout::crumbs(&[("Inbound sources", Some("/sources".to_owned())), (&fields.name, None)]))
        (layout::heading(&fields.name, Some(html! {
            code { (source.id) }
            @if let Some(uid) = &fields.uid { " · uid " code { (uid.as_str()) } }
            " · " (layout::badge("info", fields.source_type.as_str()))
        }), None))
        div class="grid-2" {
            section class="card" {
                div class="card-header" { h2 { "Ingest URL" } }
                p class="muted" { "Give this URL to the provider as its webhook URL." }
                code class="secret-value" data-testid="ingest-url" { (ingest_url(ctx, headers, &source)) }
                dl class="facts" {
                    dt { "Created" } dd { (layout::time(source.created_at)) }
                    dt { "Updated" } dd { (layout::time(source.updated_at)) }
                }
            }
            section class="card" {
                div class="card-header" { h2 { "Configuration" } }
                dl class="facts" data-testid="source-config" {
                    dt { "Dedupe" } dd {
                        @match &config.dedupe_header { Some(name) => { "header " code { (name) } }, None => "the type's own delivery id" }
                        " · " (config.dedupe_window_secs) " s window"
                    }
                    dt { "Largest body" } dd { (config.max_body_bytes) " bytes" }
                    @if let Some(url) = &config.public_url { dt { "Public URL" } dd { code { (url) } } }
                    @if let Some(app_id) = &config.forward_to_app {
                        dt { "Also forwarded to" } dd { a href={ "/apps/" (app_id) } { code { (app_id) } } }
                    }
                    @if !config.forward_headers.is_empty() {
                        dt { "Forwarded headers" } dd { code { (config.forward_headers.join(", ")) } }
                    }
                    @if let Some(check) = &config.generic { dt { "Check" } dd { (generic_check(check)) } }
                    dt { "Secrets" } dd { (config.secrets.len()) " (the first signs; the others are rotated out)" }
                }
                div id="source-secrets" class="secret masked" { code class="secret-value" { "••••••••••••••••••••••••" } }
                form class="button-row" method="post" action={ (base) "/secrets" } hx-post={ (base) "/secrets" } hx-target="#source-secrets" hx-swap="outerHTML" {
                    (layout::csrf_field(session))
                    button class="button" type="submit" { "Reveal secrets" }
                }
            }
        }
        (requests)
    };
    Ok(layout::page(
        session,
        Section::Sources,
        &fields.name,
        content,
    ))
}

fn generic_check(check: &GenericCheck) -> Markup {
    match check {
        GenericCheck::Hmac(hmac) => html! {
            "HMAC " (format!("{:?}", hmac.algorithm).to_lowercase()) " (" (format!("{:?}", hmac.encoding).to_lowercase()) ") in "
            code { (hmac.header) }
            @if let Some(header) = &hmac.timestamp_header { ", timestamp in " code { (header) } }
        },
        GenericCheck::Basic { credentials } => html! {
            "basic auth: "
            @for (index, credential) in credentials.iter().enumerate() {
                @if index > 0 { ", " }
                code { (credential.username) }
            }
        },
        GenericCheck::Token { header } => html! { "a static token in " code { (header) } },
    }
}

/// `POST /sources/{source_id}/secrets`: the secrets the source verifies with (and basic-auth
/// passwords), as a fragment.
pub async fn reveal_secrets(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(source_id): Path<String>,
) -> Response {
    let source = match inbound::get_source(&ctx.ops, &session.principal, &source_id).await {
        Ok(source) => source,
        Err(error) => return layout::op_error_fragment(error),
    };
    let config = &source.fields.config;
    let passwords: Vec<(&str, &str)> = match &config.generic {
        Some(GenericCheck::Basic { credentials }) => credentials
            .iter()
            .map(|pair| (pair.username.as_str(), pair.password.as_str()))
            .collect(),
        _ => Vec::new(),
    };
    html! {
        div class="secret" data-testid="source-secrets" {
            @if config.secrets.is_empty() && passwords.is_empty() {
                div class="muted small" { "This source has no secret: it checks nothing." }
            }
            @for (index, secret) in config.secrets.iter().enumerate() {
                div class="muted small" { @if index == 0 { "Current secret" } @else { "Rotated-out secret" } }
                code class="secret-value" { (secret) }
            }
            @for (username, password) in passwords {
                div class="muted small" { "Password of " code { (username) } }
                code class="secret-value" { (password) }
            }
        }
    }
    .into_response()
}

/// The URL providers post to: `--public-url`, else `http://` and the request's `Host` (as the
/// API renders `ingestUrl`).
fn ingest_url(ctx: &WebContext, headers: &HeaderMap, source: &Source) -> String {
    let host = headers.get(HOST).and_then(|host| host.to_str().ok());
    let base = public_urls::public_base(ctx.public_url.as_deref(), host);
    public_urls::ingest_url(&base, &source.token)
}
