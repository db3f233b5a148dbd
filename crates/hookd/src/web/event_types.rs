//! The event-type catalogue with its schemas (read-only here; the API changes it).

use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;

use super::WebContext;
use super::applications::first_page;
use super::layout::{self, Section};
use super::session::Session;
use crate::ops::event_types;
use crate::store::{Order, PageRequest};

/// `GET /event-types`.
pub async fn list(
    State(ctx): State<WebContext>,
    Extension(session): Extension<Session>,
) -> Response {
    let page = PageRequest {
        order: Order::Ascending,
        ..first_page()
    };
    let catalogue = match event_types::list(&ctx.ops, &session.principal, page, true).await {
        Ok(catalogue) => catalogue.items,
        Err(error) => return layout::op_error_page(error),
    };
    let content = html! {
        (layout::heading("Event types", Some(html! { "The catalogue that endpoints filter on and test events are chosen from." }), None))
        @if catalogue.is_empty() {
            section class="card" { (layout::empty("The catalogue is empty: create event types with POST /api/v1/event-type.")) }
        }
        @for event_type in &catalogue {
            section class="card" {
                div class="card-header" {
                    h2 class="mono" { (event_type.name.as_str()) }
                    div {
                        @if let Some(group) = &event_type.fields.group_name { span class="chip chip-muted" { (group) } }
                        @if event_type.fields.deprecated { (layout::badge("warn", "deprecated")) }
                        @if event_type.fields.archived { (layout::badge("muted", "archived")) }
                    }
                }
                @if !event_type.fields.description.is_empty() { p { (event_type.fields.description) } }
                @match &event_type.fields.schemas {
                    Some(schemas) => details { summary { "Schemas" } (layout::json_block(&schemas.to_string())) },
                    None => p class="muted small" { "No schema." },
                }
            }
        }
    };
    layout::page(&session, Section::EventTypes, "Event types", content).into_response()
}
