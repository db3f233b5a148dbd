//! Payload validation on accepting a message: a message whose event type enforces its schema
//! is refused (`OpError::PayloadRejected`) unless its payload matches the newest schema, and
//! an event type's schemas are checked when enforcement is configured
//! (`check_enforceable`), so a schema that cannot be compiled is refused then, never found
//! at message time.
//!
//! Compiled schemas are cached on this node by event type and the type's `revision`, which
//! every write of the type changes: each message costs one small read of that revision (no
//! schema is read, nothing is compiled), and a change made on any node takes effect on the
//! next message. Only new messages are judged: replays and resends send stored messages as
//! they are, and the inbound gateway's messages are not judged (a verified provider's request
//! that a 422 refused would only be retried unchanged by the provider, and lost).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{OpError, OpResult, Ops};
use crate::domain::payload_schema::{PayloadSchema, SchemaError};
use crate::domain::{EventType, EventTypeFields, EventTypeName, MessagePayload};

/// At most this many compiled schemas are kept; past it the cache starts again empty (the
/// next message of each type compiles its schema once more).
const MAX_CACHED_SCHEMAS: usize = 1024;

/// This node's compiled enforced schemas, by event type, each with the revision it was
/// compiled from.
#[derive(Default)]
pub struct CompiledSchemas {
    by_event_type: Mutex<HashMap<EventTypeName, (i64, Arc<CompiledSchema>)>>,
}

/// A compiled schema, or why the stored one no longer compiles (such as after an upgrade
/// that judges schemas more strictly): messages are then refused, never accepted unjudged.
type CompiledSchema = Result<PayloadSchema, SchemaError>;

impl CompiledSchemas {
    fn cached(&self, name: &EventTypeName, revision: i64) -> Option<Arc<CompiledSchema>> {
        let cache = self
            .by_event_type
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .get(name)
            .filter(|(cached_revision, _)| *cached_revision == revision)
            .map(|(_, schema)| schema.clone())
    }

    fn insert(&self, event_type: &EventType) -> Arc<CompiledSchema> {
        let compiled = Arc::new(PayloadSchema::compile(event_type.fields.schemas.as_ref()));
        let mut cache = self
            .by_event_type
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= MAX_CACHED_SCHEMAS && !cache.contains_key(&event_type.name) {
            cache.clear();
        }
        cache.insert(
            event_type.name.clone(),
            (event_type.revision, compiled.clone()),
        );
        compiled
    }

    /// How many compiled schemas are held (for tests of the cache).
    pub fn len(&self) -> usize {
        self.by_event_type
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Refuses `payload` when the event type named `event_type` enforces a schema it does not
/// match. A type that does not exist, is archived or does not enforce judges nothing.
pub async fn check_payload(
    ops: &Ops,
    event_type: &EventTypeName,
    payload: &MessagePayload,
) -> OpResult<()> {
    let Some(revision) = ops.store.enforced_schema_revision(event_type).await? else {
        return Ok(());
    };
    let schema = match ops.compiled_schemas.cached(event_type, revision) {
        Some(schema) => schema,
        None => match ops.store.get_event_type(event_type).await? {
            // Changed since the revision was read: the newer state decides.
            Some(current) if current.fields.enforce_schema && !current.fields.archived => {
                ops.compiled_schemas.insert(&current)
            }
            _ => return Ok(()),
        },
    };
    judge(&schema, payload)
}

/// Refuses `payload` when `event_type` (already read, as `send_example` has it) enforces a
/// schema it does not match.
pub fn check_payload_of(
    ops: &Ops,
    event_type: &EventType,
    payload: &MessagePayload,
) -> OpResult<()> {
    if !event_type.fields.enforce_schema || event_type.fields.archived {
        return Ok(());
    }
    let schema = match ops
        .compiled_schemas
        .cached(&event_type.name, event_type.revision)
    {
        Some(schema) => schema,
        None => ops.compiled_schemas.insert(event_type),
    };
    judge(&schema, payload)
}

fn judge(schema: &CompiledSchema, payload: &MessagePayload) -> OpResult<()> {
    let schema = schema.as_ref().map_err(|error| {
        tracing::warn!(%error, "an enforced schema no longer compiles; refusing its messages");
        OpError::invalid_body(
            &["eventType"],
            format!("this event type's enforced schema cannot be used: {error}"),
        )
    })?;
    let value: Value = serde_json::from_str(payload.as_str())
        .map_err(|_| OpError::Internal("a parsed payload is not JSON"))?;
    schema.check(&value).map_err(OpError::PayloadRejected)
}

/// Refuses fields that enforce a schema which cannot be enforced, naming the field to change:
/// `enforceSchema` when there is no schema, else `schemas.<version>`. Fields that do not
/// enforce are never judged (Svix stores any schema).
pub fn check_enforceable(fields: &EventTypeFields) -> OpResult<()> {
    if !fields.enforce_schema {
        return Ok(());
    }
    PayloadSchema::compile(fields.schemas.as_ref())
        .map(drop)
        .map_err(|error| match error.version() {
            Some(version) => OpError::invalid_body(&["schemas", version], error.to_string()),
            None => OpError::invalid_body(&["enforceSchema"], error.to_string()),
        })
}
