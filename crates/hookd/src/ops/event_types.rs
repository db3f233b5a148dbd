//! The catalogue of event types that messages carry. It is environment-wide: every principal
//! may read it (a portal shows it), only the admin may change it. A type with a feature flag
//! is hidden from an application token that does not carry the flag (Svix's rule,
//! `Principal::sees_event_type`): not listed, not found, not subscribable
//! (`refuse_hidden_subscriptions`).
//!
//! Deleting archives by default (as in Svix), so old messages keep a known type; `expunge`
//! removes the type for good. Creating a type that exists only as archived revives it.
//!
//! Every write that leaves a type enforcing its schema checks that the schema can be enforced
//! (`payload_validation::check_enforceable`), on the fields as they will be saved: a PATCH
//! that turns enforcement on is judged with the schemas already stored.

use std::collections::BTreeSet;

use super::payload_validation::check_enforceable;
use super::{OpError, OpResult, Ops, Principal, Upserted, saved};
use crate::domain::{EventType, EventTypeFields, EventTypeName};
use crate::store::{ChangeRefused, EventTypeChange, Page, PageRequest, StoreError};

const EVENT_TYPE_NOT_FOUND: &str = "event type not found";

/// Creates the type; `Conflict` when a live type has the name.
pub async fn create(
    ops: &Ops,
    principal: &Principal,
    name: EventTypeName,
    fields: EventTypeFields,
) -> OpResult<EventType> {
    principal.require_admin()?;
    check_enforceable(&fields)?;
    let now = ops.clock.now();
    match ops
        .store
        .create_event_type(name.clone(), fields.clone(), now)
        .await
    {
        Ok(event_type) => Ok(event_type),
        Err(StoreError::Conflict(message)) => revive_archived(ops, &name, fields)
            .await?
            .ok_or(OpError::Conflict(message)),
        Err(error) => Err(error.into()),
    }
}

/// A page of the catalogue, archived types too when asked.
pub async fn list(
    ops: &Ops,
    principal: &Principal,
    page: PageRequest,
    include_archived: bool,
) -> OpResult<Page<EventType>> {
    let visible_flags = principal.visible_feature_flags();
    Ok(ops
        .store
        .list_event_types(page, include_archived, visible_flags)
        .await?)
}

/// The type named `name` (as written in the path); a type hidden from `principal` is as
/// missing.
pub async fn get(ops: &Ops, principal: &Principal, name: &str) -> OpResult<EventType> {
    let event_type = find(ops, name).await?;
    if !principal.sees_event_type(&event_type) {
        return Err(OpError::NotFound(EVENT_TYPE_NOT_FOUND));
    }
    Ok(event_type)
}

/// The event types hidden from `principal`: those whose feature flag it does not carry
/// (none for the admin, without asking the store).
pub async fn hidden_from(ops: &Ops, principal: &Principal) -> OpResult<BTreeSet<EventTypeName>> {
    let Some(flags) = principal.visible_feature_flags() else {
        return Ok(BTreeSet::new());
    };
    let flagged = ops.store.flagged_event_types().await?;
    Ok(flagged
        .into_iter()
        .filter(|(_, flag)| !flags.contains(flag))
        .map(|(name, _)| name)
        .collect())
}

/// Refuses subscribing to a hidden event type, as Svix refuses one that does not exist (422
/// at `filterTypes`). Types in `already` (those the endpoint has, which the admin may have set)
/// stay allowed, so that a portal can change the rest of an endpoint.
pub fn refuse_hidden_subscriptions(
    hidden: &BTreeSet<EventTypeName>,
    wanted: Option<&[EventTypeName]>,
    already: Option<&[EventTypeName]>,
) -> OpResult<()> {
    let already = already.unwrap_or_default();
    let refused: Vec<&str> = wanted
        .unwrap_or_default()
        .iter()
        .filter(|name| hidden.contains(*name) && !already.contains(name))
        .map(EventTypeName::as_str)
        .collect();
    if refused.is_empty() {
        return Ok(());
    }
    Err(OpError::invalid_body(
        &["filterTypes"],
        format!(
            "the following event types don't exist: {}",
            refused.join(", ")
        ),
    ))
}

/// A full update, or a create when the type is missing. `enforce_schema` replaces the
/// fields' flag when given; `None` keeps the stored one (off on create), because the SDKs'
/// `EventTypeUpdate` cannot carry this extension and a full update through them must not
/// silently turn enforcement off.
pub async fn upsert(
    ops: &Ops,
    principal: &Principal,
    name: EventTypeName,
    fields: EventTypeFields,
    enforce_schema: Option<bool>,
) -> OpResult<Upserted<EventType>> {
    principal.require_admin()?;
    let now = ops.clock.now();
    let replacement = fields.clone();
    let replace: EventTypeChange = Box::new(move |current| {
        Ok(EventTypeFields {
            enforce_schema: enforce_schema.unwrap_or(current.fields.enforce_schema),
            ..replacement
        })
    });
    match ops
        .store
        .modify_event_type(&name, checked(replace), now)
        .await
    {
        Ok(crate::store::Modified::Missing) => {}
        Ok(modified) => {
            return saved(modified, EVENT_TYPE_NOT_FOUND)
                .map(Upserted::Existing)
                .map_err(unwrap_refusal);
        }
        Err(error) => return Err(error.into()),
    }
    let fields = EventTypeFields {
        enforce_schema: enforce_schema.unwrap_or(false),
        ..fields
    };
    check_enforceable(&fields)?;
    let created = ops.store.create_event_type(name, fields, now).await?;
    Ok(Upserted::Created(created))
}

/// Applies `change` (a PATCH) to the type as it is inside the write, so concurrent changes of
/// other fields are kept.
pub async fn modify(
    ops: &Ops,
    principal: &Principal,
    name: &str,
    change: EventTypeChange,
) -> OpResult<EventType> {
    principal.require_admin()?;
    // A name that does not parse cannot have been created.
    let name = EventTypeName::parse(name).map_err(|_| OpError::NotFound(EVENT_TYPE_NOT_FOUND))?;
    let modified = ops
        .store
        .modify_event_type(&name, checked(change), ops.clock.now())
        .await?;
    saved(modified, EVENT_TYPE_NOT_FOUND).map_err(unwrap_refusal)
}

/// `change`, refusing the fields it makes when they enforce a schema that cannot be enforced.
/// The refusal carries the `OpError`, which `unwrap_refusal` takes back out.
fn checked(change: EventTypeChange) -> EventTypeChange {
    Box::new(move |current| {
        let fields = change(current)?;
        check_enforceable(&fields).map_err(|error| ChangeRefused(Box::new(error)))?;
        Ok(fields)
    })
}

/// The `OpError` that `checked` refused with, or the error as it is.
fn unwrap_refusal(error: OpError) -> OpError {
    match error {
        OpError::Refused(ChangeRefused(inner)) => match inner.downcast::<OpError>() {
            Ok(error) => *error,
            Err(inner) => OpError::Refused(ChangeRefused(inner)),
        },
        other => other,
    }
}

/// Archives the type, or with `expunge` deletes it for good.
pub async fn delete(ops: &Ops, principal: &Principal, name: &str, expunge: bool) -> OpResult<()> {
    principal.require_admin()?;
    if expunge {
        let current = find(ops, name).await?;
        if !ops.store.delete_event_type(&current.name).await? {
            return Err(OpError::NotFound(EVENT_TYPE_NOT_FOUND));
        }
        return Ok(());
    }
    // Archiving is not judged: it stops enforcement, whatever the schema.
    let archive: EventTypeChange = Box::new(|current| {
        let mut fields = current.fields.clone();
        fields.archived = true;
        Ok(fields)
    });
    let name = EventTypeName::parse(name).map_err(|_| OpError::NotFound(EVENT_TYPE_NOT_FOUND))?;
    let modified = ops
        .store
        .modify_event_type(&name, archive, ops.clock.now())
        .await?;
    saved(modified, EVENT_TYPE_NOT_FOUND).map(drop)
}

async fn find(ops: &Ops, raw_name: &str) -> OpResult<EventType> {
    // A name that does not parse cannot have been created.
    let name =
        EventTypeName::parse(raw_name).map_err(|_| OpError::NotFound(EVENT_TYPE_NOT_FOUND))?;
    ops.store
        .get_event_type(&name)
        .await?
        .ok_or(OpError::NotFound(EVENT_TYPE_NOT_FOUND))
}

/// Creating a name that exists only archived brings it back with the new fields, as Svix does.
async fn revive_archived(
    ops: &Ops,
    name: &EventTypeName,
    fields: EventTypeFields,
) -> OpResult<Option<EventType>> {
    match ops.store.get_event_type(name).await? {
        Some(existing) if existing.fields.archived => Ok(ops
            .store
            .update_event_type(name, fields, ops.clock.now())
            .await?),
        _ => Ok(None),
    }
}
