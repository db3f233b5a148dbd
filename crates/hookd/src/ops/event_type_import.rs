//! `event_type.import_openapi`: creates or updates event types from the `webhooks` of an
//! OpenAPI document (`domain::openapi_webhooks` reads it). A type whose description, schema
//! and deprecation already match (and that is not archived) is left alone; one that differs
//! is updated (and revived if archived), keeping its feature flag and group. With
//! `replace_all`, live types the document does not name are archived. A dry run writes
//! nothing and answers what would change. Admin only.

use std::collections::HashSet;

use super::environment::all_event_types;
use super::payload_validation::check_enforceable;
use super::{OpResult, Ops, Principal};
use crate::domain::openapi_webhooks::WebhookEventType;
use crate::domain::{EventType, EventTypeFields, EventTypeName};

/// What to import and how.
#[derive(Debug, Clone)]
pub struct OpenApiImport {
    pub event_types: Vec<WebhookEventType>,
    pub replace_all: bool,
    pub dry_run: bool,
}

/// What changed (or, in a dry run, would change).
#[derive(Debug, Clone, Default)]
pub struct OpenApiImported {
    /// The types written: created, updated or archived. Empty in a dry run.
    pub modified: Vec<EventTypeName>,
    /// In a dry run, the document's types that would be created or updated.
    pub to_modify: Option<Vec<WebhookEventType>>,
}

pub async fn import_openapi(
    ops: &Ops,
    principal: &Principal,
    import: OpenApiImport,
) -> OpResult<OpenApiImported> {
    principal.require_admin()?;
    let existing = all_event_types(ops).await?;
    let changed: Vec<(WebhookEventType, EventTypeFields)> = import
        .event_types
        .iter()
        .filter_map(|imported| {
            let current = existing
                .iter()
                .find(|current| current.name == imported.name);
            let fields = fields_for(imported, current);
            let unchanged = current.is_some_and(|current| current.fields == fields);
            (!unchanged).then(|| (imported.clone(), fields))
        })
        .collect();
    let named: HashSet<&str> = import
        .event_types
        .iter()
        .map(|imported| imported.name.as_str())
        .collect();
    let to_archive: Vec<&EventType> = existing
        .iter()
        .filter(|current| import.replace_all && !current.fields.archived)
        .filter(|current| !named.contains(current.name.as_str()))
        .collect();
    // A type that enforces its schema keeps doing so, so the document's schema must be one
    // that can be enforced: checked for every type before the first write.
    for (_, fields) in &changed {
        check_enforceable(fields)?;
    }
    if import.dry_run {
        return Ok(OpenApiImported {
            modified: Vec::new(),
            to_modify: Some(changed.into_iter().map(|(imported, _)| imported).collect()),
        });
    }
    let now = ops.clock.now();
    let mut modified = Vec::new();
    for (imported, fields) in changed {
        if ops
            .store
            .update_event_type(&imported.name, fields.clone(), now)
            .await?
            .is_none()
        {
            ops.store
                .create_event_type(imported.name.clone(), fields, now)
                .await?;
        }
        modified.push(imported.name);
    }
    for current in to_archive {
        let mut fields = current.fields.clone();
        fields.archived = true;
        ops.store
            .update_event_type(&current.name, fields, now)
            .await?;
        modified.push(current.name.clone());
    }
    tracing::info!(
        modified = modified.len(),
        "event types imported from OpenAPI"
    );
    Ok(OpenApiImported {
        modified,
        to_modify: None,
    })
}

/// The fields an imported type gets: the document's, over what only hookd knows.
fn fields_for(imported: &WebhookEventType, current: Option<&EventType>) -> EventTypeFields {
    EventTypeFields {
        description: imported.description.clone(),
        deprecated: imported.deprecated,
        archived: false,
        schemas: imported.schemas.clone(),
        feature_flag: current.and_then(|current| current.fields.feature_flag.clone()),
        group_name: current.and_then(|current| current.fields.group_name.clone()),
        enforce_schema: current.is_some_and(|current| current.fields.enforce_schema),
    }
}
