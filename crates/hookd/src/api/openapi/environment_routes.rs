//! The descriptions of the routes that move an installation: environment export and import,
//! and the importer of event types from an OpenAPI document.

use axum::http::Method;

use super::operation::{OperationDoc, op};
use crate::api::environment::{EnvironmentIn, EnvironmentOut};
use crate::api::event_type_import::{EventTypeImportOpenApiIn, EventTypeImportOpenApiOut};

const ENVIRONMENT: &str = "Environment";
const EVENT_TYPES: &str = "Event types";

pub fn operations() -> Vec<OperationDoc> {
    vec![
        op(
            Method::POST,
            "/api/v1/environment/export",
            ENVIRONMENT,
            "Export every event type, application and endpoint (with its secret)",
        )
        .json::<EnvironmentOut>(200, "The installation"),
        op(
            Method::POST,
            "/api/v1/environment/import",
            ENVIRONMENT,
            "Import an export: create or update by id, uid or name; all or nothing",
        )
        .body::<EnvironmentIn>()
        .no_content("Imported"),
        op(
            Method::POST,
            "/api/v1/event-type/import/openapi",
            EVENT_TYPES,
            "Create or update event types from an OpenAPI document's webhooks",
        )
        .body::<EventTypeImportOpenApiIn>()
        .json::<EventTypeImportOpenApiOut>(200, "What was (or would be) modified"),
    ]
}
