//! The PostgreSQL outbox: writes the operational events a write raises (see `store::outbox`) as
//! messages of the internal application, with their deliveries, inside that write's
//! transaction, so they commit with it or not at all. The deliveries' `NOTIFY` is sent in the
//! same transaction, so every node hears of them once they commit.

use deadpool_postgres::GenericClient;

use super::deliveries::{DueMarks, notify_deliveries};
use super::messages::fanout_targets;
use super::messages::insert_message;
use super::rows::corrupt;
use super::{backend, get};
use crate::domain::operational::{EndpointRef, OPERATIONAL_APP_ID, OperationalEvent};
use crate::domain::{AppId, EndpointId, EventTypeName, FanoutTarget, Timestamp, Uid};
use crate::store::outbox::event_message;
use crate::store::parsed_filters::ParsedFilters;
use crate::store::{MessageInsert, StoreError};

/// Inserts one message per event (events about the internal application are dropped) and
/// returns how many deliveries they added. Nothing is raised while the internal application
/// does not exist (`app::start` creates it before serving; a bare store has no one to tell).
pub async fn raise(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    events: &[OperationalEvent],
    now: Timestamp,
) -> Result<usize, StoreError> {
    if events
        .iter()
        .all(OperationalEvent::concerns_operational_app)
    {
        return Ok(0);
    }
    let outbox = Outbox::read(c, filters).await?;
    let mut due_marks = DueMarks::default();
    let added = outbox.insert(c, events, now, &mut due_marks).await?;
    if !due_marks.is_empty() {
        due_marks.apply(c).await?;
        notify_deliveries(c).await?;
    }
    Ok(added)
}

/// The operational endpoints, read once inside a write that may raise events, so it can both
/// lock their queue rows early (`subscribers`) and insert its events (`insert`).
#[derive(Default)]
pub struct Outbox {
    /// Whether the internal application exists; while it does not, nothing is raised.
    raises: bool,
    endpoints: Vec<FanoutTarget>,
}

impl Outbox {
    pub async fn read(
        c: &impl GenericClient,
        filters: &ParsedFilters,
    ) -> Result<Outbox, StoreError> {
        if !operational_app_exists(c).await? {
            return Ok(Outbox::default());
        }
        let endpoints =
            fanout_targets(c, filters, &AppId::from_trusted(OPERATIONAL_APP_ID)).await?;
        Ok(Outbox {
            raises: true,
            endpoints,
        })
    }

    /// The operational endpoints an event of this type may be delivered to (before their content
    /// filters, which can only narrow it: locking one queue row too many is harmless).
    pub fn subscribers(&self, event_type: &str) -> impl Iterator<Item = &EndpointId> {
        let event_type =
            EventTypeName::parse(event_type).expect("operational event types are valid");
        self.endpoints
            .iter()
            .filter(move |endpoint| endpoint.accepts_kind(&event_type, &[]))
            .map(|endpoint| &endpoint.id)
    }

    /// Inserts one message per event and marks its deliveries in `due_marks`, which the caller
    /// applies (with the rest of its marks, in one sorted pass); returns the deliveries added.
    pub async fn insert(
        &self,
        c: &impl GenericClient,
        events: &[OperationalEvent],
        now: Timestamp,
        due_marks: &mut DueMarks,
    ) -> Result<usize, StoreError> {
        if !self.raises {
            return Ok(0);
        }
        let mut deliveries_added = 0;
        for message in events.iter().filter_map(|event| event_message(event, now)) {
            if let MessageInsert::Created { deliveries, .. } =
                insert_message(c, message, &self.endpoints, due_marks).await?
            {
                deliveries_added += deliveries;
            }
        }
        Ok(deliveries_added)
    }
}

async fn operational_app_exists(c: &impl GenericClient) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached("SELECT 1 FROM application WHERE id = $1")
        .await
        .map_err(backend)?;
    let found = c
        .query_opt(&statement, &[&OPERATIONAL_APP_ID])
        .await
        .map_err(backend)?;
    Ok(found.is_some())
}

/// Who an `endpoint.*` event about this endpoint is about, read inside the write; `None` if the
/// endpoint does not exist.
pub async fn endpoint_ref(
    c: &impl GenericClient,
    app_id: &AppId,
    endpoint_id: &EndpointId,
) -> Result<Option<EndpointRef>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT application.uid, endpoint.uid FROM endpoint
             JOIN application ON application.id = endpoint.app_id
             WHERE endpoint.app_id = $1 AND endpoint.id = $2",
        )
        .await
        .map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&app_id.as_str(), &endpoint_id.as_str()])
        .await
        .map_err(backend)?
    else {
        return Ok(None);
    };
    let parse = |uid: Option<String>| uid.as_deref().map(Uid::parse).transpose().map_err(corrupt);
    Ok(Some(EndpointRef {
        app_id: app_id.clone(),
        app_uid: parse(get(&row, 0)?)?,
        endpoint_id: endpoint_id.clone(),
        endpoint_uid: parse(get(&row, 1)?)?,
    }))
}

/// Raises the `endpoint.*` event `event` builds for this endpoint; returns the deliveries added.
pub async fn raise_endpoint_event(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    app_id: &AppId,
    endpoint_id: &EndpointId,
    event: fn(EndpointRef) -> OperationalEvent,
    now: Timestamp,
) -> Result<usize, StoreError> {
    match endpoint_ref(c, app_id, endpoint_id).await? {
        Some(endpoint) => raise(c, filters, &[event(endpoint)], now).await,
        None => Ok(0),
    }
}
