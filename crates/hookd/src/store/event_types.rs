//! The event type catalogue: names messages are sent under, shared by every application.

use std::collections::BTreeSet;

use async_trait::async_trait;

use super::{Change, Modified, Page, PageRequest, StoreError};
use crate::domain::{EventType, EventTypeFields, EventTypeName, Timestamp};

/// Event types, by name.
#[async_trait]
pub trait EventTypeStore: Send + Sync {
    async fn create_event_type(
        &self,
        name: EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<EventType, StoreError>;
    async fn get_event_type(&self, name: &EventTypeName) -> Result<Option<EventType>, StoreError>;
    /// A page of the catalogue. With `visible_flags`, only the types without a feature flag
    /// and those whose flag is among them (what an application token sees); `None`, all.
    async fn list_event_types(
        &self,
        page: PageRequest,
        include_archived: bool,
        visible_flags: Option<&BTreeSet<String>>,
    ) -> Result<Page<EventType>, StoreError>;
    /// The name and flag of every type that has a feature flag, archived ones too (few: what
    /// deciding which subscriptions a token may make needs).
    async fn flagged_event_types(&self) -> Result<Vec<(EventTypeName, String)>, StoreError>;
    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<Option<EventType>, StoreError>;
    /// Applies `change` to the event type as it is inside one transaction, like
    /// `modify_endpoint`, so concurrent changes of other fields are kept.
    async fn modify_event_type(
        &self,
        name: &EventTypeName,
        change: EventTypeChange,
        now: Timestamp,
    ) -> Result<Modified<EventType>, StoreError>;
    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool, StoreError>;
    /// The `revision` of the type named `name` when it enforces its schema and is not
    /// archived; `None` otherwise (and when there is no such type). The one read that
    /// accepting a message adds, so it reads no schema.
    async fn enforced_schema_revision(
        &self,
        name: &EventTypeName,
    ) -> Result<Option<i64>, StoreError>;
}

/// A fresh `revision` for a write of an event type: random, so that a type deleted and
/// created again never repeats one that a node may still have cached.
pub fn new_event_type_revision() -> i64 {
    rand::random()
}

pub type EventTypeChange = Change<EventType, EventTypeFields>;
