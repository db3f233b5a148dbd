//! SQL for endpoints on SQLite (their rows, and the targets a message fans out to), and their
//! part of the contract. Every write raises its `endpoint.*` event in the same savepoint
//! (`outbox`).

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::rows::{Cursor, corrupt, from_json, from_micros, optional_json, to_json, to_micros};
use super::{SqliteStore, backend, outbox, unique, unique_or_missing_parent};
use crate::domain::operational::OperationalEvent;
use crate::domain::{
    AppId, DeliveryOptions, Endpoint, EndpointFields, EndpointId, EndpointUrl, Timestamp, Uid,
};
use crate::policy::retry::RetrySchedule;
use crate::store::sealing::{Place, Sealing, endpoint_columns};
use crate::store::stored;
use crate::store::{
    EndpointChange, EndpointStore, Modified, NewEndpoint, Page, PageRequest, StoreError,
};

#[async_trait]
impl EndpointStore for SqliteStore {
    async fn create_endpoint(
        &self,
        app_id: &AppId,
        endpoint: NewEndpoint,
    ) -> Result<Endpoint, StoreError> {
        let (app_id, sealing) = (app_id.clone(), Arc::clone(&self.sealing));
        let filters = Arc::clone(&self.filters);
        let now = endpoint.now;
        self.write_adding(move |c| {
            let endpoint = insert_endpoint(c, &sealing, &app_id, endpoint)?;
            let added = outbox::raise_endpoint_event(
                c,
                &filters,
                &app_id,
                &endpoint.id,
                OperationalEvent::EndpointCreated,
                now,
            )?;
            Ok((endpoint, added))
        })
        .await
    }

    async fn get_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        let (app_id, key) = (app_id.clone(), id_or_uid.to_owned());
        let sealing = Arc::clone(&self.sealing);
        self.read(move |c| find_endpoint(c, &sealing, &app_id, &key))
            .await
    }

    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Endpoint>, StoreError> {
        let (app_id, sealing) = (app_id.clone(), Arc::clone(&self.sealing));
        self.read(move |c| {
            let app_id = &app_id;
            let page = &page;
            let cursor = Cursor::new("id", page);
            let sql = format!(
                "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = ? {} {} LIMIT {}",
                cursor.condition, cursor.order_by, cursor.fetch
            );
            let parameters = std::iter::once(rusqlite::types::Value::Text(app_id.to_string()))
                .chain(cursor.parameter.clone());
            let mut statement = c.prepare_cached(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), |row| {
                    endpoint_from_row(&sealing, row)
                })
                .map_err(backend)?
                .map(|row| row.map_err(backend)?)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(cursor.page(rows, |endpoint| endpoint.id.to_string()))
        })
        .await
    }

    async fn modify_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<Modified<Endpoint>, StoreError> {
        let (app_id, key) = (app_id.clone(), id_or_uid.to_owned());
        let sealing = Arc::clone(&self.sealing);
        let filters = Arc::clone(&self.filters);
        self.write_adding(move |c| {
            let modified = modify_endpoint(c, &sealing, &app_id, &key, change, now)?;
            let added = match &modified {
                Modified::Saved(endpoint) => outbox::raise_endpoint_event(
                    c,
                    &filters,
                    &app_id,
                    &endpoint.id,
                    OperationalEvent::EndpointUpdated,
                    now,
                )?,
                Modified::Missing | Modified::Refused(_) => 0,
            };
            Ok((modified, added))
        })
        .await
    }

    async fn delete_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        let filters = Arc::clone(&self.filters);
        self.write_adding(move |c| {
            // Who the event is about is read before the row is gone.
            let endpoint = outbox::endpoint_ref(c, &app_id, &id)?;
            let deleted = delete_endpoint(c, &app_id, &id)?;
            let added = match endpoint {
                Some(endpoint) if deleted => outbox::raise(
                    c,
                    &filters,
                    &[OperationalEvent::EndpointDeleted(endpoint)],
                    now,
                )?,
                _ => 0,
            };
            Ok((deleted, added))
        })
        .await
    }
}

/// Applies `change` to the endpoint found by `id_or_uid`, in one writer job like
/// `modify_application`.
fn modify_endpoint(
    c: &Connection,
    sealing: &Sealing,
    app_id: &AppId,
    id_or_uid: &str,
    change: EndpointChange,
    now: Timestamp,
) -> Result<Modified<Endpoint>, StoreError> {
    let Some(current) = find_endpoint(c, sealing, app_id, id_or_uid)? else {
        return Ok(Modified::Missing);
    };
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(
        match update_endpoint(c, sealing, app_id, &current.id, fields, now)? {
            Some(saved) => Modified::Saved(saved),
            None => Modified::Missing,
        },
    )
}

const ENDPOINT_COLUMNS: &str = "id, app_id, uid, url, description, version, disabled, \
     event_types, channels, throttle_rate, metadata, headers, created_at, updated_at, \
     max_in_flight, ordered, retry_schedule, auth, content_filter";

fn endpoint_from_row(
    sealing: &Sealing,
    row: &Row<'_>,
) -> rusqlite::Result<Result<Endpoint, StoreError>> {
    let id: String = row.get(0)?;
    let app_id: String = row.get(1)?;
    let uid: Option<String> = row.get(2)?;
    let url: String = row.get(3)?;
    let event_types: Option<String> = row.get(7)?;
    let channels: Option<String> = row.get(8)?;
    let metadata: String = row.get(10)?;
    let headers: String = row.get(11)?;
    let retry_schedule: Option<String> = row.get(16)?;
    let auth: Option<String> = row.get(17)?;
    let content_filter: Option<String> = row.get(18)?;
    let fields = (|| {
        Ok(EndpointFields {
            uid: uid
                .as_deref()
                .map(Uid::parse)
                .transpose()
                .map_err(corrupt)?,
            url: EndpointUrl::parse(&url).map_err(corrupt)?,
            description: row.get(4).map_err(backend)?,
            version: row.get(5).map_err(backend)?,
            disabled: row.get(6).map_err(backend)?,
            event_types: event_types.as_deref().map(from_json).transpose()?,
            channels: channels.as_deref().map(from_json).transpose()?,
            filter: stored::content_filter(content_filter.as_deref())?,
            throttle_rate: row.get(9).map_err(backend)?,
            metadata: from_json(&metadata)?,
            headers: from_json(&sealing.open(Place::endpoint_headers(&id), &headers)?)?,
            delivery: DeliveryOptions {
                max_in_flight: row.get(14).map_err(backend)?,
                ordered: row.get(15).map_err(backend)?,
                retry_schedule: retry_schedule
                    .as_deref()
                    .map(str::parse::<RetrySchedule>)
                    .transpose()
                    .map_err(backend)?,
                auth: auth
                    .map(|auth| sealing.open(Place::endpoint_auth(&id), &auth))
                    .transpose()?
                    .as_deref()
                    .map(from_json)
                    .transpose()?,
            },
        })
    })();
    Ok(fields.and_then(|fields| {
        Ok(Endpoint {
            id: EndpointId::from_trusted(id),
            app_id: AppId::from_trusted(app_id),
            fields,
            created_at: from_micros(row.get(12).map_err(backend)?),
            updated_at: from_micros(row.get(13).map_err(backend)?),
        })
    }))
}

fn insert_endpoint(
    c: &Connection,
    sealing: &Sealing,
    app_id: &AppId,
    endpoint: NewEndpoint,
) -> Result<Endpoint, StoreError> {
    let fields = &endpoint.fields;
    let id = endpoint.id.as_str();
    let (headers, auth) = endpoint_columns(sealing, id, fields).map_err(backend)?;
    c.prepare_cached(
        "INSERT INTO endpoint (id, app_id, uid, url, description, version, disabled, event_types,
         channels, throttle_rate, metadata, headers, created_at, updated_at, max_in_flight,
         ordered, retry_schedule, auth, content_filter)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15, ?16, ?17,
                 ?18)",
    )
    .map_err(backend)?
    .execute(params![
        endpoint.id.as_str(),
        app_id.as_str(),
        fields.uid.as_ref().map(Uid::as_str),
        fields.url.as_str(),
        fields.description,
        fields.version,
        fields.disabled,
        optional_json(&fields.event_types)?,
        optional_json(&fields.channels)?,
        fields.throttle_rate,
        to_json(&fields.metadata)?,
        headers,
        to_micros(endpoint.now),
        fields.delivery.max_in_flight,
        fields.delivery.ordered,
        fields
            .delivery
            .retry_schedule
            .as_ref()
            .map(ToString::to_string),
        auth,
        stored::content_filter_column(fields.filter.as_ref()),
    ])
    .map_err(unique_or_missing_parent(
        "an endpoint with this uid already exists",
        "application not found",
    ))?;
    c.prepare_cached(
        "INSERT INTO endpoint_secret (endpoint_id, key, expires_at, created_at)
         VALUES (?1, ?2, NULL, ?3)",
    )
    .map_err(backend)?
    .execute(params![
        id,
        sealing.seal(Place::endpoint_secret(id), &endpoint.secret.to_string()),
        to_micros(endpoint.now)
    ])
    .map_err(backend)?;
    Ok(Endpoint {
        id: endpoint.id,
        app_id: app_id.clone(),
        fields: endpoint.fields,
        created_at: endpoint.now,
        updated_at: endpoint.now,
    })
}

pub fn find_endpoint(
    c: &Connection,
    sealing: &Sealing,
    app_id: &AppId,
    id_or_uid: &str,
) -> Result<Option<Endpoint>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = ?1 AND id = ?2
         UNION ALL SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = ?1 AND uid = ?2 LIMIT 1"
    ))
    .map_err(backend)?
    .query_row([app_id.as_str(), id_or_uid], |row| {
        endpoint_from_row(sealing, row)
    })
    .optional()
    .map_err(backend)?
    .transpose()
}

fn update_endpoint(
    c: &Connection,
    sealing: &Sealing,
    app_id: &AppId,
    id: &EndpointId,
    fields: EndpointFields,
    now: Timestamp,
) -> Result<Option<Endpoint>, StoreError> {
    let (headers, auth) = endpoint_columns(sealing, id.as_str(), &fields).map_err(backend)?;
    let changed = c
        .prepare_cached(
            "UPDATE endpoint SET uid = ?3, url = ?4, description = ?5, version = ?6,
             disabled = ?7, event_types = ?8, channels = ?9, throttle_rate = ?10,
             metadata = ?11, headers = ?12, updated_at = ?13, max_in_flight = ?14,
             ordered = ?15, retry_schedule = ?16, auth = ?17, content_filter = ?18
             WHERE app_id = ?1 AND id = ?2",
        )
        .map_err(backend)?
        .execute(params![
            app_id.as_str(),
            id.as_str(),
            fields.uid.as_ref().map(Uid::as_str),
            fields.url.as_str(),
            fields.description,
            fields.version,
            fields.disabled,
            optional_json(&fields.event_types)?,
            optional_json(&fields.channels)?,
            fields.throttle_rate,
            to_json(&fields.metadata)?,
            headers,
            to_micros(now),
            fields.delivery.max_in_flight,
            fields.delivery.ordered,
            fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            auth,
            stored::content_filter_column(fields.filter.as_ref()),
        ])
        .map_err(unique("an endpoint with this uid already exists"))?;
    if changed == 0 {
        return Ok(None);
    }
    find_endpoint(c, sealing, app_id, id.as_str())
}

fn delete_endpoint(c: &Connection, app_id: &AppId, id: &EndpointId) -> Result<bool, StoreError> {
    let deleted = c
        .prepare_cached("DELETE FROM endpoint WHERE app_id = ?1 AND id = ?2")
        .map_err(backend)?
        .execute([app_id.as_str(), id.as_str()])
        .map_err(backend)?;
    Ok(deleted > 0)
}
