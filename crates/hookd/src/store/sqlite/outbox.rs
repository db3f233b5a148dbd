//! The SQLite outbox: writes the operational events a write raises (see `store::outbox`) as
//! messages of the internal application, with their deliveries, inside that write's savepoint,
//! so they commit with it or not at all.

use rusqlite::{Connection, OptionalExtension};

use super::backend;
use super::messages::insert_message;
use super::rows::corrupt;
use crate::domain::operational::{EndpointRef, OPERATIONAL_APP_ID, OperationalEvent};
use crate::domain::{AppId, EndpointId, Timestamp, Uid};
use crate::store::outbox::event_message;
use crate::store::parsed_filters::ParsedFilters;
use crate::store::{MessageInsert, StoreError};

/// Inserts one message per event (events about the internal application are dropped) and
/// returns how many deliveries they added. Nothing is raised while the internal application
/// does not exist (`app::start` creates it before serving; a bare store has no one to tell).
pub fn raise(
    c: &Connection,
    filters: &ParsedFilters,
    events: &[OperationalEvent],
    now: Timestamp,
) -> Result<usize, StoreError> {
    let messages: Vec<_> = events
        .iter()
        .filter_map(|event| event_message(event, now))
        .collect();
    if messages.is_empty() || !operational_app_exists(c)? {
        return Ok(0);
    }
    let mut deliveries_added = 0;
    for message in messages {
        if let MessageInsert::Created { deliveries, .. } = insert_message(c, filters, message)? {
            deliveries_added += deliveries;
        }
    }
    Ok(deliveries_added)
}

fn operational_app_exists(c: &Connection) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT 1 FROM application WHERE id = ?1")
        .map_err(backend)?
        .exists([OPERATIONAL_APP_ID])
        .map_err(backend)
}

/// Who an `endpoint.*` event about this endpoint is about, read inside the write; `None` if the
/// endpoint does not exist.
pub fn endpoint_ref(
    c: &Connection,
    app_id: &AppId,
    endpoint_id: &EndpointId,
) -> Result<Option<EndpointRef>, StoreError> {
    let uids = c
        .prepare_cached(
            "SELECT application.uid, endpoint.uid FROM endpoint
             JOIN application ON application.id = endpoint.app_id
             WHERE endpoint.app_id = ?1 AND endpoint.id = ?2",
        )
        .map_err(backend)?
        .query_row([app_id.as_str(), endpoint_id.as_str()], |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, Option<String>>(1)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let Some((app_uid, endpoint_uid)) = uids else {
        return Ok(None);
    };
    let parse = |uid: Option<String>| uid.as_deref().map(Uid::parse).transpose().map_err(corrupt);
    Ok(Some(EndpointRef {
        app_id: app_id.clone(),
        app_uid: parse(app_uid)?,
        endpoint_id: endpoint_id.clone(),
        endpoint_uid: parse(endpoint_uid)?,
    }))
}

/// Raises the `endpoint.*` event `event` builds for this endpoint; returns the deliveries added.
pub fn raise_endpoint_event(
    c: &Connection,
    filters: &ParsedFilters,
    app_id: &AppId,
    endpoint_id: &EndpointId,
    event: fn(EndpointRef) -> OperationalEvent,
    now: Timestamp,
) -> Result<usize, StoreError> {
    match endpoint_ref(c, app_id, endpoint_id)? {
        Some(endpoint) => raise(c, filters, &[event(endpoint)], now),
        None => Ok(0),
    }
}
