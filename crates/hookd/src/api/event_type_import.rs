//! `POST /api/v1/event-type/import/openapi` (Svix `EventTypeImportOpenApiIn`/`Out`): event
//! types from an OpenAPI document's `webhooks`. The document comes as `spec` (a JSON object)
//! or `specRaw` (its text; hookd reads JSON text, not YAML). A document that cannot be read
//! is a 422 naming the place in it (`["body", "spec", "webhooks", "user.created", ...]`).

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use crate::domain::EventTypeName;
use crate::domain::openapi_webhooks::{WebhookEventType, webhook_event_types};
use crate::ops::Principal;
use crate::ops::event_type_import::{self, OpenApiImport};

/// The body (Svix `EventTypeImportOpenApiIn`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeImportOpenApiIn {
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub spec: Option<Value>,
    #[serde(default)]
    pub spec_raw: Option<String>,
    #[serde(default)]
    pub replace_all: Option<bool>,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

/// The answer (Svix `EventTypeImportOpenApiOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeImportOpenApiOut {
    pub data: EventTypeImportOpenApiOutData,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventTypeImportOpenApiOutData {
    pub modified: Vec<EventTypeName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_modify: Option<Vec<EventTypeFromOpenApi>>,
}

/// One type the document describes (Svix `EventTypeFromOpenApi`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventTypeFromOpenApi {
    pub name: EventTypeName,
    pub description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub schemas: Option<Value>,
    pub deprecated: bool,
}

impl From<WebhookEventType> for EventTypeFromOpenApi {
    fn from(imported: WebhookEventType) -> Self {
        EventTypeFromOpenApi {
            name: imported.name,
            description: imported.description,
            schemas: imported.schemas,
            deprecated: imported.deprecated,
        }
    }
}

/// `POST /event-type/import/openapi`.
pub async fn import_openapi(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ValidJson(input): ValidJson<EventTypeImportOpenApiIn>,
) -> ApiResult<Json<EventTypeImportOpenApiOut>> {
    let (field, document) = match (input.spec, input.spec_raw) {
        (Some(spec), None) => ("spec", spec),
        (None, Some(raw)) => ("specRaw", parse_raw(&raw)?),
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid_body(
                &["specRaw"],
                "give the document as spec or as specRaw, not both",
            ));
        }
        (None, None) => {
            return Err(ApiError::invalid_body(
                &["spec"],
                "the OpenAPI document is required (spec or specRaw)",
            ));
        }
    };
    let event_types = webhook_event_types(&document).map_err(|refusal| {
        let path: Vec<&str> = [field]
            .into_iter()
            .chain(refusal.path.iter().map(String::as_str))
            .collect();
        ApiError::invalid_body(&path, refusal.message)
    })?;
    let import = OpenApiImport {
        event_types,
        replace_all: input.replace_all.unwrap_or(false),
        dry_run: input.dry_run.unwrap_or(false),
    };
    let imported = event_type_import::import_openapi(&ctx.ops, &principal, import).await?;
    Ok(Json(EventTypeImportOpenApiOut {
        data: EventTypeImportOpenApiOutData {
            modified: imported.modified,
            to_modify: imported
                .to_modify
                .map(|types| types.into_iter().map(EventTypeFromOpenApi::from).collect()),
        },
    }))
}

fn parse_raw(raw: &str) -> ApiResult<Value> {
    serde_json::from_str(raw).map_err(|error| {
        ApiError::invalid_body(
            &["specRaw"],
            format!("specRaw must be the document as JSON text (YAML is not read): {error}"),
        )
    })
}
