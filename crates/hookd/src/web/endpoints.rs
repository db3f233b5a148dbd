//! One endpoint: its settings (edit, disable/enable), its signing secret (revealed and rotated
//! only by a POST), its custom headers (`endpoint_headers.rs`: shown, sensitive values never,
//! added and removed), and its success rate
//! and latency over the last 24 hours (`ops::delivery_logs::endpoint_samples`).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::WebContext;
use super::applications::{AppHealth, event_type_filter, stat};
use super::charts;
use super::endpoint_headers;
use super::layout::{self, Section};
use super::session::Session;
use crate::domain::{Endpoint, EndpointFields, EndpointUrl, EventTypeName, shown_key};
use crate::ops::{AppRef, OpResult, applications, delivery_logs, endpoint_secrets, endpoints};

#[derive(Debug, Deserialize)]
pub struct EndpointForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    event_types: String,
}

/// The form's fields, parsed; the error names the field.
struct ParsedEndpoint {
    url: EndpointUrl,
    description: String,
    event_types: Option<Vec<EventTypeName>>,
}

fn parse_form(form: &EndpointForm) -> Result<ParsedEndpoint, String> {
    let url = EndpointUrl::parse(form.url.trim()).map_err(|error| format!("URL: {error}"))?;
    let description = form.description.trim().to_owned();
    crate::domain::limits::check_text(&description, crate::domain::limits::DESCRIPTION)
        .map_err(|error| format!("Description: {error}"))?;
    let names: Vec<&str> = form
        .event_types
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let event_types = if names.is_empty() {
        None
    } else {
        Some(
            names
                .into_iter()
                .map(|name| {
                    EventTypeName::parse(name)
                        .map_err(|error| format!("Event type {name:?}: {error}"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        )
    };
    Ok(ParsedEndpoint {
        url,
        description,
        event_types,
    })
}

/// `POST /apps/{app_id}/endpoints`.
pub async fn create(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<EndpointForm>,
) -> Response {
    let parsed = match parse_form(&form) {
        Ok(parsed) => parsed,
        Err(message) => return layout::invalid(message),
    };
    let fields = EndpointFields {
        uid: None,
        url: parsed.url,
        description: parsed.description,
        version: 1,
        disabled: false,
        event_types: parsed.event_types,
        channels: None,
        filter: None,
        throttle_rate: None,
        metadata: Default::default(),
        headers: Default::default(),
        delivery: Default::default(),
    };
    match endpoints::create(
        &ctx.ops,
        &session.principal,
        AppRef::Named(&app_id),
        fields,
        None,
    )
    .await
    {
        Ok(endpoint) => layout::go_to(
            &headers,
            &format!("/apps/{}/endpoints/{}", endpoint.app_id, endpoint.id),
        ),
        Err(error) => layout::op_error_fragment(error),
    }
}

/// `POST /apps/{app_id}/endpoints/{endpoint_id}`: URL, description and event types.
pub async fn update(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    Form(form): Form<EndpointForm>,
) -> Response {
    let parsed = match parse_form(&form) {
        Ok(parsed) => parsed,
        Err(message) => return layout::invalid(message),
    };
    let new_url = parsed.url.clone();
    let change: crate::store::EndpointChange = Box::new(move |current: &Endpoint| {
        Ok(EndpointFields {
            url: parsed.url,
            description: parsed.description,
            event_types: parsed.event_types,
            ..current.fields.clone()
        })
    });
    match endpoints::modify(
        &ctx.ops,
        &session.principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        Some(&new_url),
        change,
    )
    .await
    {
        Ok(_) => layout::success_fragment(html! { "Saved." }).into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

#[derive(Debug, Deserialize)]
pub struct DisabledForm {
    #[serde(default)]
    disabled: String,
}

/// `POST /apps/{app_id}/endpoints/{endpoint_id}/disabled`: `disabled=true` or `false`.
pub async fn set_disabled(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
    headers: HeaderMap,
    Form(form): Form<DisabledForm>,
) -> Response {
    let disabled = match form.disabled.as_str() {
        "true" => true,
        "false" => false,
        _ => return layout::invalid("disabled must be true or false."),
    };
    let change: crate::store::EndpointChange = Box::new(move |current: &Endpoint| {
        Ok(EndpointFields {
            disabled,
            ..current.fields.clone()
        })
    });
    match endpoints::modify(
        &ctx.ops,
        &session.principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        None,
        change,
    )
    .await
    {
        Ok(endpoint) => layout::go_to(
            &headers,
            &format!("/apps/{}/endpoints/{}", endpoint.app_id, endpoint.id),
        ),
        Err(error) => layout::op_error_fragment(error),
    }
}

/// `POST /apps/{app_id}/endpoints/{endpoint_id}/secret`: the secret, as a fragment.
pub async fn reveal_secret(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Response {
    match endpoint_secrets::current(
        &ctx.ops,
        &session.principal,
        AppRef::Named(&app_id),
        &endpoint_id,
    )
    .await
    {
        Ok(secret) => secret_fragment(&shown_key(&secret), "Signing secret").into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

/// `POST /apps/{app_id}/endpoints/{endpoint_id}/secret/rotate`: a new secret; the old one
/// still verifies for 24 hours.
pub async fn rotate_secret(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Response {
    let grace = chrono::Duration::hours(24);
    match endpoint_secrets::rotate(
        &ctx.ops,
        &session.principal,
        AppRef::Named(&app_id),
        &endpoint_id,
        None,
        grace,
    )
    .await
    {
        Ok(secret) => secret_fragment(
            &shown_key(&secret),
            "New signing secret (the previous one is accepted for 24 hours)",
        )
        .into_response(),
        Err(error) => layout::op_error_fragment(error),
    }
}

fn secret_fragment(secret: &str, label: &str) -> Markup {
    html! {
        div class="secret" {
            div class="muted small" { (label) }
            code class="secret-value" data-testid="secret" { (secret) }
        }
    }
}

/// `GET /apps/{app_id}/endpoints/{endpoint_id}`.
pub async fn show(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path((app_id, endpoint_id)): Path<(String, String)>,
) -> Response {
    match render(&ctx, &session, &app_id, &endpoint_id).await {
        Ok(page) => page.into_response(),
        Err(error) => layout::op_error_page(error),
    }
}

async fn render(
    ctx: &WebContext,
    session: &Session,
    app_id: &str,
    endpoint_id: &str,
) -> OpResult<Markup> {
    let principal = &session.principal;
    let app = applications::get(&ctx.ops, principal, app_id).await?;
    let endpoint = endpoints::get(
        &ctx.ops,
        principal,
        AppRef::Named(app.id.as_str()),
        endpoint_id,
    )
    .await?;
    let health = AppHealth::read(&ctx.ops, principal, &app).await?;
    let samples = delivery_logs::endpoint_samples(
        &ctx.ops,
        principal,
        app.id.as_str(),
        endpoint.id.as_str(),
        chrono::Duration::hours(24),
    )
    .await?;
    let summary = charts::summarise(&samples.samples);
    let base = format!("/apps/{}/endpoints/{}", app.id, endpoint.id);
    let dead = health.dead_letters_of(&endpoint);
    let fields = &endpoint.fields;
    let event_types = fields
        .event_types
        .as_ref()
        .map(|names| {
            names
                .iter()
                .map(|n| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let may_reveal = session.may_post("/apps/{app_id}/endpoints/{endpoint_id}/secret");
    let may_rotate = session.may_post("/apps/{app_id}/endpoints/{endpoint_id}/secret/rotate");
    let content = html! {
        (layout::crumbs(&[("Applications", Some("/".to_owned())), (&app.name, Some(format!("/apps/{}", app.id))), ("Endpoint", None)]))
        (layout::heading(fields.url.as_str(), Some(html! {
            code { (endpoint.id) } " · "
            @if fields.disabled { (layout::badge("muted", "disabled")) }
            @else if health.is_failing(&endpoint) { (layout::badge("bad", "failing")) }
            @else { (layout::badge("ok", "active")) }
        }), session.may_post("/apps/{app_id}/endpoints/{endpoint_id}/disabled").then(|| html! {
            form method="post" action={ (base) "/disabled" } hx-post={ (base) "/disabled" } hx-target="#endpoint-actions-result" {
                (layout::csrf_field(session))
                @if fields.disabled {
                    input type="hidden" name="disabled" value="false";
                    button class="button primary" type="submit" { "Enable endpoint" }
                } @else {
                    input type="hidden" name="disabled" value="true";
                    button class="button danger" type="submit" hx-confirm="Disable this endpoint? Its messages wait until it is enabled again." { "Disable endpoint" }
                }
            }
        })))
        div id="endpoint-actions-result" {}
        div class="stats-row" {
            (stat("Attempts (24 h)", &summary.attempts.to_string(), None))
            (stat("Success rate", &summary.success_rate_label(), Some(summary.tone())))
            (stat("Median latency", &summary.median_label(), None))
            (stat("p95 latency", &summary.p95_label(), None))
            (stat("Dead letters", &(dead.failed + dead.parked).to_string(), Some(if dead.failed + dead.parked > 0 { "warn" } else { "ok" })))
        }
        section class="card" {
            div class="card-header" { h2 { "Last 24 hours" } span class="muted small" { "attempts per hour: " span class="legend legend-ok" { "delivered" } span class="legend legend-bad" { "failed" } " · line: median latency" } }
            div class="chart" { (layout::raw(charts::attempts_chart(&samples.samples, samples.start, samples.end, 24))) }
        }
        div class="grid-2" {
            section class="card" {
                div class="card-header" { h2 { "Settings" } }
                @if session.may_post("/apps/{app_id}/endpoints/{endpoint_id}") {
                    form class="form-stack" method="post" action=(base) hx-post=(base) hx-target="#endpoint-settings-result" {
                        (layout::csrf_field(session))
                        label { "URL" input name="url" type="url" required value=(fields.url.as_str()); }
                        label { "Description" input name="description" type="text" value=(fields.description); }
                        label { "Event types (comma-separated, empty for all)" input name="event_types" type="text" value=(event_types); }
                        button class="button primary" type="submit" { "Save changes" }
                        div id="endpoint-settings-result" {}
                    }
                }
                dl class="facts" {
                    @if !session.may_post("/apps/{app_id}/endpoints/{endpoint_id}") {
                        dt { "URL" } dd { code { (fields.url.as_str()) } }
                        dt { "Description" } dd { (fields.description) }
                    }
                    dt { "Filter" } dd { (event_type_filter(&endpoint)) }
                    dt { "Version" } dd { (fields.version) }
                    dt { "Created" } dd { (layout::time(endpoint.created_at)) }
                    dt { "Updated" } dd { (layout::time(endpoint.updated_at)) }
                }
            }
            div class="stack" {
                section class="card" {
                    div class="card-header" { h2 { "Signing secret" } }
                    @if may_reveal {
                        p class="muted" { "Receivers verify each request's " code { "webhook-signature" } " with this secret. It is shown only when you ask." }
                    } @else {
                        p class="muted" { "Receivers verify each request's " code { "webhook-signature" } " with this secret. This session may not see it." }
                    }
                    div id="secret-box" class="secret masked" { code class="secret-value" { "whsec_••••••••••••••••••••••••" } }
                    @if may_reveal || may_rotate {
                        div class="button-row" {
                            @if may_reveal {
                                form method="post" action={ (base) "/secret" } hx-post={ (base) "/secret" } hx-target="#secret-box" hx-swap="outerHTML" {
                                    (layout::csrf_field(session))
                                    button class="button" type="submit" { "Reveal secret" }
                                }
                            }
                            @if may_rotate {
                                form method="post" action={ (base) "/secret/rotate" } hx-post={ (base) "/secret/rotate" } hx-target="#secret-box" hx-swap="outerHTML" {
                                    (layout::csrf_field(session))
                                    button class="button" type="submit" hx-confirm="Rotate the secret? The current one keeps working for 24 hours." { "Rotate secret" }
                                }
                            }
                        }
                    }
                }
                (endpoint_headers::card(session, &base, &fields.headers))
            }
        }
    };
    Ok(layout::page(
        session,
        Section::Applications,
        fields.url.as_str(),
        content,
    ))
}
