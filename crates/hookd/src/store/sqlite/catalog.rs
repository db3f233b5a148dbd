//! SQL for the configuration records: applications, endpoints and their secrets, event types,
//! plus the small key-value tables (idempotency keys, settings).

use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::backend;
use super::rows::{Cursor, corrupt, from_json, from_micros, to_json, to_micros};
use crate::domain::{
    AppId, Application, ApplicationFields, DeliveryOptions, Endpoint, EndpointFields, EndpointId,
    EndpointSecret, EndpointUrl, EventType, EventTypeFields, EventTypeName, FanoutTarget, Secret,
    SigningSecrets, Timestamp, Uid,
};
use crate::policy::retry::RetrySchedule;
use crate::store::stored;
use crate::store::{
    ApplicationChange, ApplicationFilter, CreatedMessageAnswer, EndpointChange, EventTypeChange,
    IDEMPOTENCY_IN_PROGRESS, IdempotentResponse, KeyClaim, Modified, NewEndpoint, Page,
    PageRequest, StoreError,
};

/// Maps a unique-constraint violation to `Conflict` with a message for the client. Other
/// constraint violations are not conflicts: a foreign key, for one, means the parent is gone.
pub(super) fn unique(message: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match extended_code(&error) {
        Some(
            rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
        ) => StoreError::Conflict(message.to_owned()),
        _ => backend(error),
    }
}

/// Maps a foreign-key violation to `NotFound`: the row an insert refers to was deleted (by a
/// concurrent request) before the insert ran.
pub fn missing_parent(what: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match extended_code(&error) {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound(what),
        _ => backend(error),
    }
}

/// `unique` and `missing_parent` together, for inserts that can hit both.
fn unique_or_missing_parent(
    conflict: &'static str,
    what: &'static str,
) -> impl Fn(rusqlite::Error) -> StoreError {
    move |error| match extended_code(&error) {
        Some(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => StoreError::NotFound(what),
        _ => unique(conflict)(error),
    }
}

fn extended_code(error: &rusqlite::Error) -> Option<std::ffi::c_int> {
    error.sqlite_error().map(|failure| failure.extended_code)
}

/// Applies `change` to the application found by `id_or_uid`: one job of the single writer, so
/// no other write can come between the read and the write.
pub fn modify_application(
    c: &Connection,
    id_or_uid: &str,
    change: ApplicationChange,
    now: Timestamp,
) -> Result<Modified<Application>, StoreError> {
    let Some(current) = find_application(c, id_or_uid)? else {
        return Ok(Modified::Missing);
    };
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(match update_application(c, &current.id, fields, now)? {
        Some(saved) => Modified::Saved(saved),
        None => Modified::Missing,
    })
}

/// Applies `change` to the endpoint found by `id_or_uid`, in one writer job like
/// `modify_application`.
pub fn modify_endpoint(
    c: &Connection,
    app_id: &AppId,
    id_or_uid: &str,
    change: EndpointChange,
    now: Timestamp,
) -> Result<Modified<Endpoint>, StoreError> {
    let Some(current) = find_endpoint(c, app_id, id_or_uid)? else {
        return Ok(Modified::Missing);
    };
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(
        match update_endpoint(c, app_id, &current.id, fields, now)? {
            Some(saved) => Modified::Saved(saved),
            None => Modified::Missing,
        },
    )
}

// --- applications ---

const APPLICATION_COLUMNS: &str = "id, uid, name, throttle_rate, metadata, created_at, updated_at";

fn application_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Application, StoreError>> {
    let uid: Option<String> = row.get(1)?;
    let metadata: String = row.get(4)?;
    Ok((|| {
        Ok(Application {
            id: AppId::from_trusted(row.get::<_, String>(0).map_err(backend)?),
            uid: uid
                .as_deref()
                .map(Uid::parse)
                .transpose()
                .map_err(corrupt)?,
            name: row.get(2).map_err(backend)?,
            throttle_rate: row.get(3).map_err(backend)?,
            metadata: from_json(&metadata)?,
            created_at: from_micros(row.get(5).map_err(backend)?),
            updated_at: from_micros(row.get(6).map_err(backend)?),
        })
    })())
}

pub fn insert_application(
    c: &Connection,
    id: AppId,
    fields: ApplicationFields,
    now: Timestamp,
) -> Result<Application, StoreError> {
    c.prepare_cached(
        "INSERT INTO application (id, uid, name, throttle_rate, metadata, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
    )
    .map_err(backend)?
    .execute(params![
        id.as_str(),
        fields.uid.as_ref().map(Uid::as_str),
        fields.name,
        fields.throttle_rate,
        to_json(&fields.metadata)?,
        to_micros(now),
    ])
    .map_err(unique("an application with this uid already exists"))?;
    Ok(Application {
        id,
        uid: fields.uid,
        name: fields.name,
        throttle_rate: fields.throttle_rate,
        metadata: fields.metadata,
        created_at: now,
        updated_at: now,
    })
}

pub fn find_application(
    c: &Connection,
    id_or_uid: &str,
) -> Result<Option<Application>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {APPLICATION_COLUMNS} FROM application WHERE id = ?1
         UNION ALL SELECT {APPLICATION_COLUMNS} FROM application WHERE uid = ?1 LIMIT 1"
    ))
    .map_err(backend)?
    .query_row([id_or_uid], application_from_row)
    .optional()
    .map_err(backend)?
    .transpose()
}

pub fn list_applications(
    c: &Connection,
    page: &PageRequest,
    filter: &ApplicationFilter,
) -> Result<Page<Application>, StoreError> {
    let cursor = Cursor::new("id", page);
    let mut conditions = String::new();
    let mut parameters = Vec::new();
    if let Some(hidden) = &filter.hidden {
        conditions.push_str(" AND id <> ?");
        parameters.push(rusqlite::types::Value::Text(hidden.to_string()));
    }
    if let Some(prefix) = filter.hidden_prefix {
        conditions.push_str(&format!(" AND substr(id, 1, {}) <> ?", prefix.len()));
        parameters.push(rusqlite::types::Value::Text(prefix.to_owned()));
    }
    if filter.with_endpoints_only {
        conditions.push_str(
            " AND EXISTS (SELECT 1 FROM endpoint WHERE endpoint.app_id = application.id)",
        );
    }
    parameters.extend(cursor.parameter.iter().cloned());
    let sql = format!(
        "SELECT {APPLICATION_COLUMNS} FROM application WHERE 1 = 1{conditions} {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let mut statement = c.prepare_cached(&sql).map_err(backend)?;
    let rows = statement
        .query_map(params_from_iter(parameters.iter()), application_from_row)
        .map_err(backend)?
        .map(|row| row.map_err(backend)?)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |app| app.id.to_string()))
}

pub fn update_application(
    c: &Connection,
    id: &AppId,
    fields: ApplicationFields,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE application SET uid = ?2, name = ?3, throttle_rate = ?4, metadata = ?5,
             updated_at = ?6 WHERE id = ?1",
        )
        .map_err(backend)?
        .execute(params![
            id.as_str(),
            fields.uid.as_ref().map(Uid::as_str),
            fields.name,
            fields.throttle_rate,
            to_json(&fields.metadata)?,
            to_micros(now),
        ])
        .map_err(unique("an application with this uid already exists"))?;
    if changed == 0 {
        return Ok(None);
    }
    find_application(c, id.as_str())
}

pub fn delete_application(c: &Connection, id: &AppId) -> Result<bool, StoreError> {
    let deleted = c
        .prepare_cached("DELETE FROM application WHERE id = ?1")
        .map_err(backend)?
        .execute([id.as_str()])
        .map_err(backend)?;
    Ok(deleted > 0)
}

// --- endpoints ---

const ENDPOINT_COLUMNS: &str = "id, app_id, uid, url, description, version, disabled, \
     event_types, channels, throttle_rate, metadata, headers, created_at, updated_at, \
     max_in_flight, ordered, retry_schedule, auth";

fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Endpoint, StoreError>> {
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
            throttle_rate: row.get(9).map_err(backend)?,
            metadata: from_json(&metadata)?,
            headers: from_json(&headers)?,
            delivery: DeliveryOptions {
                max_in_flight: row.get(14).map_err(backend)?,
                ordered: row.get(15).map_err(backend)?,
                retry_schedule: retry_schedule
                    .as_deref()
                    .map(str::parse::<RetrySchedule>)
                    .transpose()
                    .map_err(backend)?,
                auth: auth.as_deref().map(from_json).transpose()?,
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

fn optional_json<T: serde::Serialize>(value: &Option<T>) -> Result<Option<String>, StoreError> {
    value.as_ref().map(to_json).transpose()
}

pub fn insert_endpoint(
    c: &Connection,
    app_id: &AppId,
    endpoint: NewEndpoint,
) -> Result<Endpoint, StoreError> {
    let fields = &endpoint.fields;
    c.prepare_cached(
        "INSERT INTO endpoint (id, app_id, uid, url, description, version, disabled, event_types,
         channels, throttle_rate, metadata, headers, created_at, updated_at, max_in_flight,
         ordered, retry_schedule, auth)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13, ?14, ?15, ?16, ?17)",
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
        to_json(&fields.headers)?,
        to_micros(endpoint.now),
        fields.delivery.max_in_flight,
        fields.delivery.ordered,
        fields
            .delivery
            .retry_schedule
            .as_ref()
            .map(ToString::to_string),
        optional_json(&fields.delivery.auth)?,
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
        endpoint.id.as_str(),
        endpoint.secret.to_string(),
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
    app_id: &AppId,
    id_or_uid: &str,
) -> Result<Option<Endpoint>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = ?1 AND id = ?2
         UNION ALL SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = ?1 AND uid = ?2 LIMIT 1"
    ))
    .map_err(backend)?
    .query_row([app_id.as_str(), id_or_uid], endpoint_from_row)
    .optional()
    .map_err(backend)?
    .transpose()
}

pub fn list_endpoints(
    c: &Connection,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<Endpoint>, StoreError> {
    let cursor = Cursor::new("id", page);
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = ? {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let parameters = std::iter::once(rusqlite::types::Value::Text(app_id.to_string()))
        .chain(cursor.parameter.clone());
    let mut statement = c.prepare_cached(&sql).map_err(backend)?;
    let rows = statement
        .query_map(params_from_iter(parameters), endpoint_from_row)
        .map_err(backend)?
        .map(|row| row.map_err(backend)?)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |endpoint| endpoint.id.to_string()))
}

/// What fan-out needs of every endpoint of an application, read inside the message
/// transaction.
pub fn fanout_targets(c: &Connection, app_id: &AppId) -> Result<Vec<FanoutTarget>, StoreError> {
    let mut statement = c
        .prepare_cached(
            "SELECT id, disabled, event_types, channels FROM endpoint WHERE app_id = ?1",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map([app_id.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
            ))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(id, disabled, event_types, channels)| {
            Ok(FanoutTarget {
                id: EndpointId::from_trusted(id),
                disabled,
                event_types: event_types.as_deref().map(from_json).transpose()?,
                channels: channels.as_deref().map(from_json).transpose()?,
            })
        })
        .collect()
}

pub fn update_endpoint(
    c: &Connection,
    app_id: &AppId,
    id: &EndpointId,
    fields: EndpointFields,
    now: Timestamp,
) -> Result<Option<Endpoint>, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE endpoint SET uid = ?3, url = ?4, description = ?5, version = ?6,
             disabled = ?7, event_types = ?8, channels = ?9, throttle_rate = ?10,
             metadata = ?11, headers = ?12, updated_at = ?13, max_in_flight = ?14,
             ordered = ?15, retry_schedule = ?16, auth = ?17
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
            to_json(&fields.headers)?,
            to_micros(now),
            fields.delivery.max_in_flight,
            fields.delivery.ordered,
            fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            optional_json(&fields.delivery.auth)?,
        ])
        .map_err(unique("an endpoint with this uid already exists"))?;
    if changed == 0 {
        return Ok(None);
    }
    find_endpoint(c, app_id, id.as_str())
}

pub fn delete_endpoint(
    c: &Connection,
    app_id: &AppId,
    id: &EndpointId,
) -> Result<bool, StoreError> {
    let deleted = c
        .prepare_cached("DELETE FROM endpoint WHERE app_id = ?1 AND id = ?2")
        .map_err(backend)?
        .execute([app_id.as_str(), id.as_str()])
        .map_err(backend)?;
    Ok(deleted > 0)
}

/// The endpoint's secrets that are valid at `now`, the current one first; a stored secret that
/// does not parse is a `CorruptValue`.
pub fn endpoint_secrets(
    c: &Connection,
    id: &EndpointId,
    now: Timestamp,
) -> Result<Vec<EndpointSecret>, StoreError> {
    stored_secrets(c, id, now)?
        .into_iter()
        .map(|(key, expires_at)| Ok(stored::endpoint_secret(&key, expires_at)?))
        .collect()
}

/// The secrets that sign the endpoint's deliveries now; see `SigningSecrets` for why a stored
/// secret that does not parse is counted rather than an error here.
pub fn signing_secrets(
    c: &Connection,
    id: &EndpointId,
    now: Timestamp,
) -> Result<SigningSecrets, StoreError> {
    let stored = stored_secrets(c, id, now)?;
    Ok(SigningSecrets::from_stored(
        stored.iter().map(|(key, _)| key.as_str()),
    ))
}

/// The endpoint's `(key, expires_at)` rows valid at `now`, the current one first.
fn stored_secrets(
    c: &Connection,
    id: &EndpointId,
    now: Timestamp,
) -> Result<Vec<(String, Option<Timestamp>)>, StoreError> {
    let mut statement = c
        .prepare_cached(
            "SELECT key, expires_at FROM endpoint_secret
             WHERE endpoint_id = ?1 AND (expires_at IS NULL OR expires_at > ?2)
             ORDER BY expires_at IS NOT NULL, expires_at DESC",
        )
        .map_err(backend)?;
    statement
        .query_map(params![id.as_str(), to_micros(now)], |row| {
            Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.map(from_micros)))
        })
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)
}

pub fn rotate_endpoint_secret(
    c: &Connection,
    id: &EndpointId,
    new_key: Secret,
    old_expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE endpoint_secret SET expires_at = ?2 WHERE endpoint_id = ?1 AND expires_at IS NULL",
    )
    .map_err(backend)?
    .execute(params![id.as_str(), to_micros(old_expires_at)])
    .map_err(backend)?;
    // Secrets whose grace period is over are of no further use.
    c.prepare_cached("DELETE FROM endpoint_secret WHERE endpoint_id = ?1 AND expires_at <= ?2")
        .map_err(backend)?
        .execute(params![id.as_str(), to_micros(now)])
        .map_err(backend)?;
    c.prepare_cached(
        "INSERT INTO endpoint_secret (endpoint_id, key, expires_at, created_at)
         VALUES (?1, ?2, NULL, ?3)",
    )
    .map_err(backend)?
    .execute(params![id.as_str(), new_key.to_string(), to_micros(now)])
    .map_err(missing_parent("endpoint not found"))?;
    Ok(())
}

// --- event types ---

const EVENT_TYPE_COLUMNS: &str = "name, description, deprecated, archived, schemas, \
     feature_flag, group_name, created_at, updated_at";

fn event_type_from_row(row: &Row<'_>) -> rusqlite::Result<Result<EventType, StoreError>> {
    let name: String = row.get(0)?;
    let schemas: Option<String> = row.get(4)?;
    Ok((|| {
        Ok(EventType {
            name: EventTypeName::parse(&name).map_err(corrupt)?,
            fields: EventTypeFields {
                description: row.get(1).map_err(backend)?,
                deprecated: row.get(2).map_err(backend)?,
                archived: row.get(3).map_err(backend)?,
                schemas: schemas.as_deref().map(from_json).transpose()?,
                feature_flag: row.get(5).map_err(backend)?,
                group_name: row.get(6).map_err(backend)?,
            },
            created_at: from_micros(row.get(7).map_err(backend)?),
            updated_at: from_micros(row.get(8).map_err(backend)?),
        })
    })())
}

pub fn insert_event_type(
    c: &Connection,
    name: EventTypeName,
    fields: EventTypeFields,
    now: Timestamp,
) -> Result<EventType, StoreError> {
    c.prepare_cached(
        "INSERT INTO event_type (name, description, deprecated, archived, schemas, feature_flag,
         group_name, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)",
    )
    .map_err(backend)?
    .execute(params![
        name.as_str(),
        fields.description,
        fields.deprecated,
        fields.archived,
        optional_json(&fields.schemas)?,
        fields.feature_flag,
        fields.group_name,
        to_micros(now),
    ])
    .map_err(unique("an event type with this name already exists"))?;
    Ok(EventType {
        name,
        fields,
        created_at: now,
        updated_at: now,
    })
}

pub fn find_event_type(
    c: &Connection,
    name: &EventTypeName,
) -> Result<Option<EventType>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE name = ?1"
    ))
    .map_err(backend)?
    .query_row([name.as_str()], event_type_from_row)
    .optional()
    .map_err(backend)?
    .transpose()
}

pub fn list_event_types(
    c: &Connection,
    page: &PageRequest,
    include_archived: bool,
) -> Result<Page<EventType>, StoreError> {
    let cursor = Cursor::new("name", page);
    let archived = if include_archived {
        ""
    } else {
        "AND archived = 0"
    };
    let sql = format!(
        "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE 1 = 1 {archived} {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let mut statement = c.prepare_cached(&sql).map_err(backend)?;
    let rows = statement
        .query_map(
            params_from_iter(cursor.parameter.iter()),
            event_type_from_row,
        )
        .map_err(backend)?
        .map(|row| row.map_err(backend)?)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |event_type| event_type.name.as_str().to_owned()))
}

/// Applies `change` to the event type named `name`, in one writer job like
/// `modify_application`.
pub fn modify_event_type(
    c: &Connection,
    name: &EventTypeName,
    change: EventTypeChange,
    now: Timestamp,
) -> Result<Modified<EventType>, StoreError> {
    let Some(current) = find_event_type(c, name)? else {
        return Ok(Modified::Missing);
    };
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(match update_event_type(c, name, fields, now)? {
        Some(saved) => Modified::Saved(saved),
        None => Modified::Missing,
    })
}

pub fn update_event_type(
    c: &Connection,
    name: &EventTypeName,
    fields: EventTypeFields,
    now: Timestamp,
) -> Result<Option<EventType>, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE event_type SET description = ?2, deprecated = ?3, archived = ?4, schemas = ?5,
             feature_flag = ?6, group_name = ?7, updated_at = ?8 WHERE name = ?1",
        )
        .map_err(backend)?
        .execute(params![
            name.as_str(),
            fields.description,
            fields.deprecated,
            fields.archived,
            optional_json(&fields.schemas)?,
            fields.feature_flag,
            fields.group_name,
            to_micros(now),
        ])
        .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    find_event_type(c, name)
}

pub fn delete_event_type(c: &Connection, name: &EventTypeName) -> Result<bool, StoreError> {
    let deleted = c
        .prepare_cached("DELETE FROM event_type WHERE name = ?1")
        .map_err(backend)?
        .execute([name.as_str()])
        .map_err(backend)?;
    Ok(deleted > 0)
}

// --- idempotency keys and settings ---

pub fn claim_idempotency_key(
    c: &Connection,
    key: &str,
    request_digest: &str,
    now: Timestamp,
    abandon_after: std::time::Duration,
    remember_for: std::time::Duration,
) -> Result<KeyClaim, StoreError> {
    let known = c
        .prepare_cached(
            "SELECT request_digest, status, body, created_at FROM idempotency WHERE key = ?1",
        )
        .map_err(backend)?
        .query_row([key], |row| {
            Ok((
                IdempotentResponse {
                    request_digest: row.get(0)?,
                    status: row.get(1)?,
                    body: row.get(2)?,
                },
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let abandoned_before =
        to_micros(now - chrono::Duration::from_std(abandon_after).unwrap_or_default());
    let forgotten_before = to_micros(
        now.checked_sub_signed(
            chrono::Duration::from_std(remember_for).unwrap_or(chrono::Duration::MAX),
        )
        .unwrap_or(Timestamp::MIN_UTC),
    );
    match known {
        Some((answer, answered_at))
            if answer.status != IDEMPOTENCY_IN_PROGRESS && answered_at >= forgotten_before =>
        {
            Ok(KeyClaim::Answered(answer))
        }
        Some((running, reserved_at))
            if running.status == IDEMPOTENCY_IN_PROGRESS && reserved_at > abandoned_before =>
        {
            Ok(KeyClaim::InProgress {
                request_digest: running.request_digest,
            })
        }
        // Unknown, abandoned, or answered longer ago than the window: run it as a new request.
        // Replacing the whole row also drops an old answer's link to its message.
        _ => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO idempotency (key, request_digest, status, body, created_at)
                 VALUES (?1, ?2, ?3, x'', ?4)",
            )
            .map_err(backend)?
            .execute(params![
                key,
                request_digest,
                IDEMPOTENCY_IN_PROGRESS,
                to_micros(now)
            ])
            .map_err(backend)?;
            Ok(KeyClaim::Claimed)
        }
    }
}

pub fn release_idempotency_key(c: &Connection, key: &str) -> Result<(), StoreError> {
    c.prepare_cached("DELETE FROM idempotency WHERE key = ?1 AND status = ?2")
        .map_err(backend)?
        .execute(params![key, IDEMPOTENCY_IN_PROGRESS])
        .map_err(backend)?;
    Ok(())
}

pub fn put_idempotent_response(
    c: &Connection,
    key: &str,
    response: IdempotentResponse,
    created_message: Option<CreatedMessageAnswer>,
    now: Timestamp,
) -> Result<(), StoreError> {
    // The single writer runs this whole job, so an expunge is wholly before or after it.
    let content_expunged = match &created_message {
        Some(created) => c
            .prepare_cached("SELECT payload IS NULL FROM message WHERE id = ?1")
            .map_err(backend)?
            .query_row([created.msg_id.as_str()], |row| row.get::<_, bool>(0))
            .optional()
            .map_err(backend)?
            .unwrap_or(false),
        None => false,
    };
    let (body, msg_id, expunged_body) =
        crate::store::answer_columns(response.body, created_message, content_expunged);
    c.prepare_cached(
        "INSERT OR REPLACE INTO idempotency
             (key, request_digest, status, body, created_at, msg_id, expunged_body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )
    .map_err(backend)?
    .execute(params![
        key,
        response.request_digest,
        response.status,
        body,
        to_micros(now),
        msg_id,
        expunged_body
    ])
    .map_err(backend)?;
    Ok(())
}

/// Keys of at most `limit` idempotency records made before `cutoff`, for the retention sweep.
pub fn idempotency_keys_to_purge(
    c: &Connection,
    cutoff: Timestamp,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    c.prepare_cached("SELECT key FROM idempotency WHERE created_at < ?1 LIMIT ?2")
        .map_err(backend)?
        .query_map(
            params![to_micros(cutoff), i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )
        .map_err(backend)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(backend)
}

/// Deletes the records by key, each only if still older than `cutoff`: a key claimed again
/// since it was picked is a new record and stays.
pub fn purge_idempotency(
    c: &Connection,
    keys: &[String],
    cutoff: Timestamp,
) -> Result<usize, StoreError> {
    let mut delete = c
        .prepare_cached("DELETE FROM idempotency WHERE key = ?1 AND created_at < ?2")
        .map_err(backend)?;
    let mut purged = 0;
    for key in keys {
        purged += delete
            .execute(params![key, to_micros(cutoff)])
            .map_err(backend)?;
    }
    Ok(purged)
}

/// Swaps in the answers' content-free form for the answers that created `msg_id`.
pub fn expunge_idempotent_answers(c: &Connection, msg_id: &str) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE idempotency SET body = expunged_body, expunged_body = NULL
         WHERE msg_id = ?1 AND expunged_body IS NOT NULL",
    )
    .map_err(backend)?
    .execute([msg_id])
    .map_err(backend)?;
    Ok(())
}

pub fn get_setting(c: &Connection, name: &str) -> Result<Option<String>, StoreError> {
    c.prepare_cached("SELECT value FROM setting WHERE name = ?1")
        .map_err(backend)?
        .query_row([name], |row| row.get(0))
        .optional()
        .map_err(backend)
}

pub fn put_setting(c: &Connection, name: &str, value: &str) -> Result<(), StoreError> {
    c.prepare_cached("INSERT OR REPLACE INTO setting (name, value) VALUES (?1, ?2)")
        .map_err(backend)?
        .execute([name, value])
        .map_err(backend)?;
    Ok(())
}
