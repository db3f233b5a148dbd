//! The applications page (the dashboard's home: every application with its health) and one
//! application's overview (its endpoints, a form for a new one, a test event).
//!
//! An endpoint counts as failing when it is disabled or has dead letters (message/endpoint
//! pairs whose latest delivery ended failed or parked).

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use maud::{Markup, html};
use serde::Deserialize;

use super::WebContext;
use super::layout::{self, Section};
use super::messages::test_event_form;
use super::session::Session;
use crate::domain::{Application, ApplicationFields, Endpoint};
use crate::ops::{AppRef, OpResult, Ops, Principal, applications, delivery_logs, endpoints};
use crate::store::logs::{DeadLetterCount, DeadLetterSummary};
use crate::store::{Order, PageRequest};

/// How many rows a dashboard table shows.
pub const TABLE_ROWS: usize = 100;

pub fn first_page() -> PageRequest {
    PageRequest {
        limit: TABLE_ROWS,
        iterator: None,
        order: Order::Descending,
    }
}

/// An application's endpoints and their dead-letter counts.
pub struct AppHealth {
    pub endpoints: Vec<Endpoint>,
    pub dead_letters: DeadLetterSummary,
}

impl AppHealth {
    pub async fn read(ops: &Ops, principal: &Principal, app: &Application) -> OpResult<AppHealth> {
        let endpoints = endpoints::list(
            ops,
            principal,
            AppRef::Named(app.id.as_str()),
            PageRequest {
                order: Order::Ascending,
                ..first_page()
            },
        )
        .await?
        .items;
        let groups = delivery_logs::count_dead_letters(ops, principal, app.id.as_str()).await?;
        Ok(AppHealth {
            endpoints,
            dead_letters: DeadLetterSummary::from_groups(&groups),
        })
    }

    pub fn dead_letters_of(&self, endpoint: &Endpoint) -> DeadLetterCount {
        self.dead_letters
            .by_endpoint
            .get(endpoint.id.as_str())
            .cloned()
            .unwrap_or_default()
    }

    pub fn is_failing(&self, endpoint: &Endpoint) -> bool {
        let count = self.dead_letters_of(endpoint);
        endpoint.fields.disabled || count.failed + count.parked > 0
    }

    fn failing(&self) -> usize {
        self.endpoints.iter().filter(|e| self.is_failing(e)).count()
    }

    fn dead_letter_total(&self) -> u64 {
        self.dead_letters.total.failed + self.dead_letters.total.parked
    }
}

/// `GET /`: every application with its health. An application's session goes to its own.
pub async fn list(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
) -> Response {
    if let Principal::App(scope) = &session.principal {
        return axum::response::Redirect::to(&format!("/apps/{}", scope.app_id)).into_response();
    }
    match render_list(&ctx, &session, None).await {
        Ok(page) => page.into_response(),
        Err(error) => layout::op_error_page(error),
    }
}

async fn render_list(ctx: &WebContext, session: &Session, error: Option<&str>) -> OpResult<Markup> {
    let principal = &session.principal;
    let apps = applications::list(&ctx.ops, principal, first_page(), false).await?;
    let mut rows = Vec::with_capacity(apps.items.len());
    for app in apps.items {
        let health = AppHealth::read(&ctx.ops, principal, &app).await?;
        rows.push((app, health));
    }
    let total_failing: usize = rows.iter().map(|(_, health)| health.failing()).sum();
    let total_dead: u64 = rows
        .iter()
        .map(|(_, health)| health.dead_letter_total())
        .sum();
    let total_endpoints: usize = rows.iter().map(|(_, health)| health.endpoints.len()).sum();
    let content = html! {
        (layout::heading("Applications", Some(html! { "Every tenant that sends webhooks through this hookd." }), None))
        div class="stats-row" {
            (stat("Applications", &rows.len().to_string(), None))
            (stat("Endpoints", &total_endpoints.to_string(), None))
            (stat("Failing endpoints", &total_failing.to_string(), Some(if total_failing > 0 { "bad" } else { "ok" })))
            (stat("Dead letters", &total_dead.to_string(), Some(if total_dead > 0 { "warn" } else { "ok" })))
        }
        section class="card" {
            div class="card-header" { h2 { "All applications" } }
            @if rows.is_empty() {
                (layout::empty("No applications yet. Create one below, or through the API."))
            } @else {
                table class="table" {
                    thead { tr { th { "Application" } th { "ID" } th class="num" { "Endpoints" } th class="num" { "Failing" } th class="num" { "Dead letters" } th { "Health" } th { "Created" } } }
                    tbody {
                        @for (app, health) in &rows {
                            @let failing = health.failing();
                            @let dead = health.dead_letter_total();
                            tr {
                                td { a class="strong" href={ "/apps/" (app.id) } { (app.name) } }
                                td { code { (app.id) } }
                                td class="num" { (health.endpoints.len()) }
                                td class="num" { (failing) }
                                td class="num" { (dead) }
                                td {
                                    @if health.endpoints.is_empty() { (layout::badge("muted", "no endpoints")) }
                                    @else if failing > 0 { (layout::badge("bad", "failing")) }
                                    @else if dead > 0 { (layout::badge("warn", "dead letters")) }
                                    @else { (layout::badge("ok", "healthy")) }
                                }
                                td class="muted" { (layout::time(app.created_at)) }
                            }
                        }
                    }
                }
            }
        }
        section class="card" {
            div class="card-header" { h2 { "New application" } }
            form class="form-inline" method="post" action="/apps" hx-post="/apps" hx-target="#new-app-result" {
                (layout::csrf_field(session))
                label { "Name" input name="name" type="text" required placeholder="Acme Inc."; }
                label { "UID (optional)" input name="uid" type="text" placeholder="acme"; }
                button class="button primary" type="submit" { "Create application" }
            }
            div id="new-app-result" {
                @if let Some(error) = error { (layout::error_fragment(error)) }
            }
        }
    };
    Ok(layout::page(
        session,
        Section::Applications,
        "Applications",
        content,
    ))
}

pub fn stat(label: &str, value: &str, tone: Option<&str>) -> Markup {
    html! {
        div class={ "stat" @if let Some(tone) = tone { " stat-" (tone) } } {
            div class="stat-label" { (label) }
            div class="stat-value" { (value) }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NewApplicationForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    uid: String,
}

/// `POST /apps`.
pub async fn create(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
    Form(form): Form<NewApplicationForm>,
) -> Response {
    let name = form.name.trim();
    if name.is_empty() {
        return layout::invalid("The application needs a name.");
    }
    if let Err(error) =
        crate::domain::limits::check_text(name, crate::domain::limits::APPLICATION_NAME)
    {
        return layout::invalid(format!("Name: {error}"));
    }
    let uid = match form.uid.trim() {
        "" => None,
        uid => match crate::domain::Uid::parse(uid) {
            Ok(uid) => Some(uid),
            Err(error) => return layout::invalid(format!("UID: {error}")),
        },
    };
    let fields = ApplicationFields {
        uid,
        name: name.to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::new(),
    };
    match applications::create(&ctx.ops, &session.principal, fields, false).await {
        Ok(created) => {
            let app = match created {
                crate::ops::Upserted::Created(app) | crate::ops::Upserted::Existing(app) => app,
            };
            layout::go_to(&headers, &format!("/apps/{}", app.id))
        }
        Err(error) => layout::op_error_fragment(error),
    }
}

/// `GET /apps/{app_id}`: the application's endpoints with their health.
pub async fn show(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
    Path(app_id): Path<String>,
) -> Response {
    match render_show(&ctx, &session, &app_id).await {
        Ok(page) => page.into_response(),
        Err(error) => layout::op_error_page(error),
    }
}

async fn render_show(ctx: &WebContext, session: &Session, app_id: &str) -> OpResult<Markup> {
    let principal = &session.principal;
    let app = applications::get(&ctx.ops, principal, app_id).await?;
    let health = AppHealth::read(&ctx.ops, principal, &app).await?;
    let test_form = if session.may_post("/apps/{app_id}/test-event") {
        Some(test_event_form(ctx, session, &app).await?)
    } else {
        None
    };
    let base = format!("/apps/{}", app.id);
    let content = html! {
        (layout::crumbs(&[("Applications", Some("/".to_owned())), (&app.name, None)]))
        (layout::heading(&app.name, Some(html! { code { (app.id) } @if let Some(uid) = &app.uid { " · uid " code { (uid.as_str()) } } }),
            Some(html! {
                a class="button" href={ (base) "/messages" } { "Messages" }
                a class="button" href={ (base) "/dead-letters" } { "Dead letters" }
            })))
        div class="stats-row" {
            (stat("Endpoints", &health.endpoints.len().to_string(), None))
            (stat("Failing endpoints", &health.failing().to_string(), Some(if health.failing() > 0 { "bad" } else { "ok" })))
            (stat("Dead letters", &health.dead_letter_total().to_string(), Some(if health.dead_letter_total() > 0 { "warn" } else { "ok" })))
        }
        section class="card" {
            div class="card-header" { h2 { "Endpoints" } }
            @if health.endpoints.is_empty() {
                (layout::empty("No endpoints yet: add the first one below."))
            } @else {
                table class="table" {
                    thead { tr { th { "URL" } th { "Description" } th { "Event types" } th class="num" { "Dead letters" } th { "Status" } } }
                    tbody {
                        @for endpoint in &health.endpoints {
                            @let dead = health.dead_letters_of(endpoint);
                            tr {
                                td { a class="strong mono" href={ (base) "/endpoints/" (endpoint.id) } { (endpoint.fields.url.as_str()) } }
                                td class="muted" { (endpoint.fields.description) }
                                td { (event_type_filter(endpoint)) }
                                td class="num" { (dead.failed + dead.parked) }
                                td {
                                    @if endpoint.fields.disabled { (layout::badge("muted", "disabled")) }
                                    @else if health.is_failing(endpoint) { (layout::badge("bad", "failing")) }
                                    @else { (layout::badge("ok", "active")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        div class="grid-2" {
            @if session.may_post("/apps/{app_id}/endpoints") { section class="card" {
                div class="card-header" { h2 { "Add an endpoint" } }
                form class="form-stack" method="post" action={ (base) "/endpoints" } hx-post={ (base) "/endpoints" } hx-target="#new-endpoint-result" {
                    (layout::csrf_field(session))
                    label { "URL" input name="url" type="url" required placeholder="https://example.com/webhooks"; }
                    label { "Description" input name="description" type="text" placeholder="Production receiver"; }
                    label { "Event types (comma-separated, empty for all)" input name="event_types" type="text" placeholder="invoice.paid, invoice.failed"; }
                    button class="button primary" type="submit" { "Add endpoint" }
                    div id="new-endpoint-result" {}
                }
            } }
            @if let Some(test_form) = test_form { (test_form) }
        }
    };
    Ok(layout::page(
        session,
        Section::Applications,
        &app.name,
        content,
    ))
}

pub fn event_type_filter(endpoint: &Endpoint) -> Markup {
    html! {
        @match &endpoint.fields.event_types {
            None => span class="muted" { "all" },
            Some(types) => @for name in types { span class="chip" { (name.as_str()) } },
        }
    }
}
