//! SQL for the configuration records: applications, endpoints and their secrets, event types,
//! plus the small key-value tables (idempotency keys, settings).

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{
    Cursor, Parameters, corrupt, from_json, from_micros, optional_json, to_json, to_micros,
};
use super::{backend, get, unique, unique_or_missing_parent};
use crate::domain::{
    AppId, Application, ApplicationFields, DeliveryOptions, Endpoint, EndpointFields, EndpointId,
    EndpointSecret, EndpointUrl, EventType, EventTypeFields, EventTypeName, FanoutTarget, Secret,
    Timestamp, Uid,
};
use crate::policy::retry::RetrySchedule;
use crate::store::stored;
use crate::store::{
    ApplicationChange, ApplicationFilter, CreatedMessageAnswer, EndpointChange, EventTypeChange,
    IDEMPOTENCY_IN_PROGRESS, IdempotentResponse, KeyClaim, Modified, NewEndpoint, Page,
    PageRequest, StoreError,
};

pub fn optional_u32(value: Option<i64>) -> Option<u32> {
    value.and_then(|value| u32::try_from(value).ok())
}

// --- applications ---

const APPLICATION_COLUMNS: &str = "id, uid, name, throttle_rate, metadata, created_at, updated_at";

fn application_from_row(row: &Row) -> Result<Application, StoreError> {
    let uid: Option<String> = get(row, 1)?;
    let metadata: String = get(row, 4)?;
    Ok(Application {
        id: AppId::from_trusted(get::<String>(row, 0)?),
        uid: uid
            .as_deref()
            .map(Uid::parse)
            .transpose()
            .map_err(corrupt)?,
        name: get(row, 2)?,
        throttle_rate: optional_u32(get(row, 3)?),
        metadata: from_json(&metadata)?,
        created_at: from_micros(get(row, 5)?),
        updated_at: from_micros(get(row, 6)?),
    })
}

pub async fn insert_application(
    c: &impl GenericClient,
    id: AppId,
    fields: ApplicationFields,
    now: Timestamp,
) -> Result<Application, StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO application (id, uid, name, throttle_rate, metadata, created_at,
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &id.as_str(),
            &fields.uid.as_ref().map(Uid::as_str),
            &fields.name,
            &fields.throttle_rate.map(i64::from),
            &to_json(&fields.metadata)?,
            &to_micros(now),
        ],
    )
    .await
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

pub async fn find_application(
    c: &impl GenericClient,
    id_or_uid: &str,
) -> Result<Option<Application>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM application WHERE id = $1
             UNION ALL SELECT {APPLICATION_COLUMNS} FROM application WHERE uid = $1 LIMIT 1"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&id_or_uid])
        .await
        .map_err(backend)?
        .as_ref()
        .map(application_from_row)
        .transpose()
}

pub async fn list_applications(
    c: &impl GenericClient,
    page: &PageRequest,
    filter: &ApplicationFilter,
) -> Result<Page<Application>, StoreError> {
    let mut parameters = Parameters::default();
    let mut conditions = String::new();
    if let Some(hidden) = &filter.hidden {
        let placeholder = parameters.push(hidden.to_string());
        conditions.push_str(&format!(" AND id <> {placeholder}"));
    }
    if let Some(prefix) = filter.hidden_prefix {
        let placeholder = parameters.push(prefix.to_owned());
        conditions.push_str(&format!(
            " AND substr(id, 1, {}) <> {placeholder}",
            prefix.len()
        ));
    }
    if filter.with_endpoints_only {
        conditions.push_str(
            " AND EXISTS (SELECT 1 FROM endpoint WHERE endpoint.app_id = application.id)",
        );
    }
    let cursor = Cursor::new("id", page, &mut parameters);
    let sql = format!(
        "SELECT {APPLICATION_COLUMNS} FROM application WHERE TRUE{conditions} {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let rows = c
        .query(&sql, &parameters.as_refs())
        .await
        .map_err(backend)?
        .iter()
        .map(application_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |app| app.id.to_string()))
}

pub async fn update_application(
    c: &impl GenericClient,
    id: &AppId,
    fields: ApplicationFields,
    now: Timestamp,
) -> Result<Option<Application>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "UPDATE application SET uid = $2, name = $3, throttle_rate = $4, metadata = $5,
             updated_at = $6 WHERE id = $1 RETURNING {APPLICATION_COLUMNS}"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(
        &statement,
        &[
            &id.as_str(),
            &fields.uid.as_ref().map(Uid::as_str),
            &fields.name,
            &fields.throttle_rate.map(i64::from),
            &to_json(&fields.metadata)?,
            &to_micros(now),
        ],
    )
    .await
    .map_err(unique("an application with this uid already exists"))?
    .as_ref()
    .map(application_from_row)
    .transpose()
}

/// Applies `change` to the application found by `id_or_uid`. Runs in the caller's
/// transaction: the row stays locked from the read to the commit, so a concurrent change waits
/// and then reads this one's result. `NO KEY UPDATE` (the id does not change) lets inserts that
/// only reference the row, such as a message's, go on meanwhile.
pub async fn modify_application(
    c: &impl GenericClient,
    id_or_uid: &str,
    change: ApplicationChange,
    now: Timestamp,
) -> Result<Modified<Application>, StoreError> {
    // PostgreSQL allows no FOR UPDATE on a UNION, hence one scan preferring an id match.
    let statement = c
        .prepare_cached(&format!(
            "SELECT {APPLICATION_COLUMNS} FROM application WHERE id = $1 OR uid = $1
             ORDER BY id = $1 DESC LIMIT 1 FOR NO KEY UPDATE"
        ))
        .await
        .map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&id_or_uid])
        .await
        .map_err(backend)?
    else {
        return Ok(Modified::Missing);
    };
    let current = application_from_row(&row)?;
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(
        match update_application(c, &current.id, fields, now).await? {
            Some(saved) => Modified::Saved(saved),
            None => Modified::Missing,
        },
    )
}

pub async fn delete_application(c: &impl GenericClient, id: &AppId) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached("DELETE FROM application WHERE id = $1")
        .await
        .map_err(backend)?;
    let deleted = c
        .execute(&statement, &[&id.as_str()])
        .await
        .map_err(backend)?;
    Ok(deleted > 0)
}

// --- endpoints ---

const ENDPOINT_COLUMNS: &str = "id, app_id, uid, url, description, version, disabled, \
     event_types, channels, throttle_rate, metadata, headers, created_at, updated_at, \
     max_in_flight, ordered, retry_schedule, auth";

fn endpoint_from_row(row: &Row) -> Result<Endpoint, StoreError> {
    let uid: Option<String> = get(row, 2)?;
    let url: String = get(row, 3)?;
    let event_types: Option<String> = get(row, 7)?;
    let channels: Option<String> = get(row, 8)?;
    let metadata: String = get(row, 10)?;
    let headers: String = get(row, 11)?;
    Ok(Endpoint {
        id: EndpointId::from_trusted(get::<String>(row, 0)?),
        app_id: AppId::from_trusted(get::<String>(row, 1)?),
        fields: EndpointFields {
            uid: uid
                .as_deref()
                .map(Uid::parse)
                .transpose()
                .map_err(corrupt)?,
            url: EndpointUrl::parse(&url).map_err(corrupt)?,
            description: get(row, 4)?,
            version: u32::try_from(get::<i64>(row, 5)?).unwrap_or(1),
            disabled: get(row, 6)?,
            event_types: event_types.as_deref().map(from_json).transpose()?,
            channels: channels.as_deref().map(from_json).transpose()?,
            throttle_rate: optional_u32(get(row, 9)?),
            metadata: from_json(&metadata)?,
            headers: from_json(&headers)?,
            delivery: delivery_options(row, 14)?,
        },
        created_at: from_micros(get(row, 12)?),
        updated_at: from_micros(get(row, 13)?),
    })
}

/// Reads `max_in_flight, ordered, retry_schedule, auth` starting at column `first`.
pub fn delivery_options(row: &Row, first: usize) -> Result<DeliveryOptions, StoreError> {
    let retry_schedule: Option<String> = get(row, first + 2)?;
    let auth: Option<String> = get(row, first + 3)?;
    Ok(DeliveryOptions {
        max_in_flight: optional_u32(get(row, first)?),
        ordered: get(row, first + 1)?,
        retry_schedule: retry_schedule
            .as_deref()
            .map(str::parse::<RetrySchedule>)
            .transpose()
            .map_err(backend)?,
        auth: auth.as_deref().map(from_json).transpose()?,
    })
}

pub async fn insert_endpoint(
    c: &impl GenericClient,
    app_id: &AppId,
    endpoint: NewEndpoint,
) -> Result<Endpoint, StoreError> {
    let fields = &endpoint.fields;
    let statement = c
        .prepare_cached(
            "WITH inserted AS (
                 INSERT INTO endpoint (id, app_id, uid, url, description, version, disabled,
                 event_types, channels, throttle_rate, metadata, headers, created_at, updated_at,
                 max_in_flight, ordered, retry_schedule, auth)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $15, $16,
                 $17, $18)
                 RETURNING id)
             INSERT INTO endpoint_secret (endpoint_id, key, expires_at, created_at)
             SELECT id, $14, NULL, $13 FROM inserted",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &endpoint.id.as_str(),
            &app_id.as_str(),
            &fields.uid.as_ref().map(Uid::as_str),
            &fields.url.as_str(),
            &fields.description,
            &i64::from(fields.version),
            &fields.disabled,
            &optional_json(&fields.event_types)?,
            &optional_json(&fields.channels)?,
            &fields.throttle_rate.map(i64::from),
            &to_json(&fields.metadata)?,
            &to_json(&fields.headers)?,
            &to_micros(endpoint.now),
            &endpoint.secret.to_string(),
            &fields.delivery.max_in_flight.map(i64::from),
            &fields.delivery.ordered,
            &fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            &optional_json(&fields.delivery.auth)?,
        ],
    )
    .await
    .map_err(unique_or_missing_parent(
        "an endpoint with this uid already exists",
        "application not found",
    ))?;
    Ok(Endpoint {
        id: endpoint.id,
        app_id: app_id.clone(),
        fields: endpoint.fields,
        created_at: endpoint.now,
        updated_at: endpoint.now,
    })
}

pub async fn find_endpoint(
    c: &impl GenericClient,
    app_id: &AppId,
    id_or_uid: &str,
) -> Result<Option<Endpoint>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = $1 AND id = $2
             UNION ALL SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = $1 AND uid = $2
             LIMIT 1"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&app_id.as_str(), &id_or_uid])
        .await
        .map_err(backend)?
        .as_ref()
        .map(endpoint_from_row)
        .transpose()
}

pub async fn list_endpoints(
    c: &impl GenericClient,
    app_id: &AppId,
    page: &PageRequest,
) -> Result<Page<Endpoint>, StoreError> {
    let mut parameters = Parameters::default();
    let app = parameters.push(app_id.to_string());
    let cursor = Cursor::new("id", page, &mut parameters);
    let sql = format!(
        "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = {app} {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let rows = c
        .query(&sql, &parameters.as_refs())
        .await
        .map_err(backend)?
        .iter()
        .map(endpoint_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |endpoint| endpoint.id.to_string()))
}

/// What fan-out needs of every endpoint of an application, read inside the message
/// transaction.
pub async fn fanout_targets(
    c: &impl GenericClient,
    app_id: &AppId,
) -> Result<Vec<FanoutTarget>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT id, disabled, event_types, channels FROM endpoint WHERE app_id = $1",
        )
        .await
        .map_err(backend)?;
    c.query(&statement, &[&app_id.as_str()])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            let event_types: Option<String> = get(row, 2)?;
            let channels: Option<String> = get(row, 3)?;
            Ok(FanoutTarget {
                id: EndpointId::from_trusted(get::<String>(row, 0)?),
                disabled: get(row, 1)?,
                event_types: event_types.as_deref().map(from_json).transpose()?,
                channels: channels.as_deref().map(from_json).transpose()?,
            })
        })
        .collect()
}

pub async fn update_endpoint(
    c: &impl GenericClient,
    app_id: &AppId,
    id: &EndpointId,
    fields: EndpointFields,
    now: Timestamp,
) -> Result<Option<Endpoint>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "UPDATE endpoint SET uid = $3, url = $4, description = $5, version = $6,
             disabled = $7, event_types = $8, channels = $9, throttle_rate = $10,
             metadata = $11, headers = $12, updated_at = $13, max_in_flight = $14,
             ordered = $15, retry_schedule = $16, auth = $17
             WHERE app_id = $1 AND id = $2 RETURNING {ENDPOINT_COLUMNS}"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(
        &statement,
        &[
            &app_id.as_str(),
            &id.as_str(),
            &fields.uid.as_ref().map(Uid::as_str),
            &fields.url.as_str(),
            &fields.description,
            &i64::from(fields.version),
            &fields.disabled,
            &optional_json(&fields.event_types)?,
            &optional_json(&fields.channels)?,
            &fields.throttle_rate.map(i64::from),
            &to_json(&fields.metadata)?,
            &to_json(&fields.headers)?,
            &to_micros(now),
            &fields.delivery.max_in_flight.map(i64::from),
            &fields.delivery.ordered,
            &fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            &optional_json(&fields.delivery.auth)?,
        ],
    )
    .await
    .map_err(unique("an endpoint with this uid already exists"))?
    .as_ref()
    .map(endpoint_from_row)
    .transpose()
}

/// Applies `change` to the endpoint found by `id_or_uid`, holding its row lock from the read
/// to the caller's commit like `modify_application`.
pub async fn modify_endpoint(
    c: &impl GenericClient,
    app_id: &AppId,
    id_or_uid: &str,
    change: EndpointChange,
    now: Timestamp,
) -> Result<Modified<Endpoint>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {ENDPOINT_COLUMNS} FROM endpoint WHERE app_id = $1 AND (id = $2 OR uid = $2)
             ORDER BY id = $2 DESC LIMIT 1 FOR NO KEY UPDATE"
        ))
        .await
        .map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&app_id.as_str(), &id_or_uid])
        .await
        .map_err(backend)?
    else {
        return Ok(Modified::Missing);
    };
    let current = endpoint_from_row(&row)?;
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(
        match update_endpoint(c, app_id, &current.id, fields, now).await? {
            Some(saved) => Modified::Saved(saved),
            None => Modified::Missing,
        },
    )
}

pub async fn delete_endpoint(
    c: &impl GenericClient,
    app_id: &AppId,
    id: &EndpointId,
) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached("DELETE FROM endpoint WHERE app_id = $1 AND id = $2")
        .await
        .map_err(backend)?;
    let deleted = c
        .execute(&statement, &[&app_id.as_str(), &id.as_str()])
        .await
        .map_err(backend)?;
    Ok(deleted > 0)
}

/// The `(endpoint_id, key, expires_at)` rows of these endpoints valid at `now`, per endpoint
/// the current one first. The keys are unparsed: `endpoint_secrets` refuses one that does not
/// parse, a claim's `SigningSecrets` counts it.
pub async fn stored_secrets_of(
    c: &impl GenericClient,
    ids: &[&str],
    now: Timestamp,
) -> Result<Vec<(String, String, Option<Timestamp>)>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT endpoint_id, key, expires_at FROM endpoint_secret
             WHERE endpoint_id = ANY($1) AND (expires_at IS NULL OR expires_at > $2)
             ORDER BY endpoint_id, expires_at IS NOT NULL, expires_at DESC",
        )
        .await
        .map_err(backend)?;
    c.query(&statement, &[&ids, &to_micros(now)])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| {
            Ok((
                get(row, 0)?,
                get(row, 1)?,
                get::<Option<i64>>(row, 2)?.map(from_micros),
            ))
        })
        .collect()
}

/// The endpoint's secrets that are valid at `now`, the current one first; a stored secret that
/// does not parse is a `CorruptValue`.
pub async fn endpoint_secrets(
    c: &impl GenericClient,
    id: &EndpointId,
    now: Timestamp,
) -> Result<Vec<EndpointSecret>, StoreError> {
    stored_secrets_of(c, &[id.as_str()], now)
        .await?
        .into_iter()
        .map(|(_, key, expires_at)| Ok(stored::endpoint_secret(&key, expires_at)?))
        .collect()
}

/// Runs inside one transaction (see the caller): lock the endpoint, expire the current secret,
/// drop the ones whose grace period is over, add the new one. The endpoint's row is locked
/// first, as a delete locks it before cascading to the secrets: so a rotation and a delete
/// wait for each other instead of deadlocking, and two rotations cannot both leave a current
/// secret.
pub async fn rotate_endpoint_secret(
    c: &impl GenericClient,
    id: &EndpointId,
    new_key: Secret,
    old_expires_at: Timestamp,
    now: Timestamp,
) -> Result<(), StoreError> {
    let lock = c
        .prepare_cached("SELECT 1 FROM endpoint WHERE id = $1 FOR NO KEY UPDATE")
        .await
        .map_err(backend)?;
    if c.query_opt(&lock, &[&id.as_str()])
        .await
        .map_err(backend)?
        .is_none()
    {
        return Err(StoreError::NotFound("endpoint not found"));
    }
    let expire = c
        .prepare_cached(
            "UPDATE endpoint_secret SET expires_at = $2
             WHERE endpoint_id = $1 AND expires_at IS NULL",
        )
        .await
        .map_err(backend)?;
    c.execute(&expire, &[&id.as_str(), &to_micros(old_expires_at)])
        .await
        .map_err(backend)?;
    let prune = c
        .prepare_cached("DELETE FROM endpoint_secret WHERE endpoint_id = $1 AND expires_at <= $2")
        .await
        .map_err(backend)?;
    c.execute(&prune, &[&id.as_str(), &to_micros(now)])
        .await
        .map_err(backend)?;
    let insert = c
        .prepare_cached(
            "INSERT INTO endpoint_secret (endpoint_id, key, expires_at, created_at)
             VALUES ($1, $2, NULL, $3)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &insert,
        &[&id.as_str(), &new_key.to_string(), &to_micros(now)],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

// --- event types ---

const EVENT_TYPE_COLUMNS: &str = "name, description, deprecated, archived, schemas, \
     feature_flag, group_name, created_at, updated_at";

fn event_type_from_row(row: &Row) -> Result<EventType, StoreError> {
    let name: String = get(row, 0)?;
    let schemas: Option<String> = get(row, 4)?;
    Ok(EventType {
        name: EventTypeName::parse(&name).map_err(corrupt)?,
        fields: EventTypeFields {
            description: get(row, 1)?,
            deprecated: get(row, 2)?,
            archived: get(row, 3)?,
            schemas: schemas.as_deref().map(from_json).transpose()?,
            feature_flag: get(row, 5)?,
            group_name: get(row, 6)?,
        },
        created_at: from_micros(get(row, 7)?),
        updated_at: from_micros(get(row, 8)?),
    })
}

pub async fn insert_event_type(
    c: &impl GenericClient,
    name: EventTypeName,
    fields: EventTypeFields,
    now: Timestamp,
) -> Result<EventType, StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO event_type (name, description, deprecated, archived, schemas,
             feature_flag, group_name, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &statement,
        &[
            &name.as_str(),
            &fields.description,
            &fields.deprecated,
            &fields.archived,
            &optional_json(&fields.schemas)?,
            &fields.feature_flag,
            &fields.group_name,
            &to_micros(now),
        ],
    )
    .await
    .map_err(unique("an event type with this name already exists"))?;
    Ok(EventType {
        name,
        fields,
        created_at: now,
        updated_at: now,
    })
}

pub async fn find_event_type(
    c: &impl GenericClient,
    name: &EventTypeName,
) -> Result<Option<EventType>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE name = $1"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&name.as_str()])
        .await
        .map_err(backend)?
        .as_ref()
        .map(event_type_from_row)
        .transpose()
}

pub async fn list_event_types(
    c: &impl GenericClient,
    page: &PageRequest,
    include_archived: bool,
) -> Result<Page<EventType>, StoreError> {
    let mut parameters = Parameters::default();
    let cursor = Cursor::new("name", page, &mut parameters);
    let archived = if include_archived {
        ""
    } else {
        "AND NOT archived"
    };
    let sql = format!(
        "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE TRUE {archived} {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let rows = c
        .query(&sql, &parameters.as_refs())
        .await
        .map_err(backend)?
        .iter()
        .map(event_type_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |event_type| event_type.name.as_str().to_owned()))
}

/// Applies `change` to the event type named `name`, holding its row lock from the read to the
/// caller's commit like `modify_application`.
pub async fn modify_event_type(
    c: &impl GenericClient,
    name: &EventTypeName,
    change: EventTypeChange,
    now: Timestamp,
) -> Result<Modified<EventType>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE name = $1 FOR NO KEY UPDATE"
        ))
        .await
        .map_err(backend)?;
    let Some(row) = c
        .query_opt(&statement, &[&name.as_str()])
        .await
        .map_err(backend)?
    else {
        return Ok(Modified::Missing);
    };
    let current = event_type_from_row(&row)?;
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(match update_event_type(c, name, fields, now).await? {
        Some(saved) => Modified::Saved(saved),
        None => Modified::Missing,
    })
}

pub async fn update_event_type(
    c: &impl GenericClient,
    name: &EventTypeName,
    fields: EventTypeFields,
    now: Timestamp,
) -> Result<Option<EventType>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "UPDATE event_type SET description = $2, deprecated = $3, archived = $4,
             schemas = $5, feature_flag = $6, group_name = $7, updated_at = $8
             WHERE name = $1 RETURNING {EVENT_TYPE_COLUMNS}"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(
        &statement,
        &[
            &name.as_str(),
            &fields.description,
            &fields.deprecated,
            &fields.archived,
            &optional_json(&fields.schemas)?,
            &fields.feature_flag,
            &fields.group_name,
            &to_micros(now),
        ],
    )
    .await
    .map_err(backend)?
    .as_ref()
    .map(event_type_from_row)
    .transpose()
}

pub async fn delete_event_type(
    c: &impl GenericClient,
    name: &EventTypeName,
) -> Result<bool, StoreError> {
    let statement = c
        .prepare_cached("DELETE FROM event_type WHERE name = $1")
        .await
        .map_err(backend)?;
    let deleted = c
        .execute(&statement, &[&name.as_str()])
        .await
        .map_err(backend)?;
    Ok(deleted > 0)
}

// --- idempotency keys and settings ---

/// Runs in the caller's transaction. Inserting first (doing nothing on conflict) and then
/// reading the row under `FOR UPDATE` means two nodes racing on one key serialize on that row.
pub async fn claim_idempotency_key(
    c: &impl GenericClient,
    key: &str,
    request_digest: &str,
    now: Timestamp,
    abandon_after: std::time::Duration,
    remember_for: std::time::Duration,
) -> Result<KeyClaim, StoreError> {
    let reserve = c
        .prepare_cached(
            "INSERT INTO idempotency (key, request_digest, status, body, created_at)
             VALUES ($1, $2, $3, ''::bytea, $4) ON CONFLICT (key) DO NOTHING RETURNING key",
        )
        .await
        .map_err(backend)?;
    let in_progress = i32::from(IDEMPOTENCY_IN_PROGRESS);
    let now_micros = to_micros(now);
    let known = c
        .prepare_cached(
            "SELECT request_digest, status, body, created_at FROM idempotency WHERE key = $1
             FOR UPDATE",
        )
        .await
        .map_err(backend)?;
    // The row that made the reservation conflict can be deleted (by the retention purge)
    // before it is read; then the key is free again and the reservation is tried once more.
    let mut existing = None;
    for _ in 0..3 {
        let inserted = c
            .query_opt(
                &reserve,
                &[&key, &request_digest, &in_progress, &now_micros],
            )
            .await
            .map_err(backend)?;
        if inserted.is_some() {
            return Ok(KeyClaim::Claimed);
        }
        existing = c.query_opt(&known, &[&key]).await.map_err(backend)?;
        if existing.is_some() {
            break;
        }
    }
    let Some(row) = existing else {
        return Err(StoreError::Conflict(
            "this Idempotency-Key is being claimed and purged at once; retry the request".into(),
        ));
    };
    let answer = IdempotentResponse {
        request_digest: get(&row, 0)?,
        status: u16::try_from(get::<i32>(&row, 1)?).unwrap_or(500),
        body: get(&row, 2)?,
    };
    let recorded_at = get::<i64>(&row, 3)?;
    let forgotten_before = to_micros(
        now.checked_sub_signed(
            chrono::Duration::from_std(remember_for).unwrap_or(chrono::Duration::MAX),
        )
        .unwrap_or(Timestamp::MIN_UTC),
    );
    if answer.status != IDEMPOTENCY_IN_PROGRESS && recorded_at >= forgotten_before {
        return Ok(KeyClaim::Answered(answer));
    }
    let abandoned_before =
        to_micros(now - chrono::Duration::from_std(abandon_after).unwrap_or_default());
    if answer.status == IDEMPOTENCY_IN_PROGRESS && recorded_at > abandoned_before {
        return Ok(KeyClaim::InProgress {
            request_digest: answer.request_digest,
        });
    }
    // Abandoned, or answered longer ago than the window: a new reservation, with no old answer
    // or link to its message left behind.
    let take_over = c
        .prepare_cached(
            "UPDATE idempotency SET request_digest = $2, created_at = $3, status = $4,
             body = ''::bytea, msg_id = NULL, expunged_body = NULL WHERE key = $1",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &take_over,
        &[&key, &request_digest, &now_micros, &in_progress],
    )
    .await
    .map_err(backend)?;
    Ok(KeyClaim::Claimed)
}

pub async fn release_idempotency_key(c: &impl GenericClient, key: &str) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached("DELETE FROM idempotency WHERE key = $1 AND status = $2")
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&key, &i32::from(IDEMPOTENCY_IN_PROGRESS)])
        .await
        .map_err(backend)?;
    Ok(())
}

pub async fn put_idempotent_response(
    c: &impl GenericClient,
    key: &str,
    response: IdempotentResponse,
    created_message: Option<CreatedMessageAnswer>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO idempotency
                 (key, request_digest, status, body, created_at, msg_id, expunged_body)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (key) DO UPDATE SET request_digest = excluded.request_digest,
             status = excluded.status, body = excluded.body, created_at = excluded.created_at,
             msg_id = excluded.msg_id, expunged_body = excluded.expunged_body",
        )
        .await
        .map_err(backend)?;
    // Runs in the caller's transaction. The message row is held `FOR SHARE` until the answer
    // commits, so an expunge either finished first (and the content-free form is stored) or
    // waits and then finds this answer.
    let content_expunged = match &created_message {
        Some(created) => {
            let statement = c
                .prepare_cached("SELECT payload IS NULL FROM message WHERE id = $1 FOR SHARE")
                .await
                .map_err(backend)?;
            c.query_opt(&statement, &[&created.msg_id.as_str()])
                .await
                .map_err(backend)?
                .map(|row| get::<bool>(&row, 0))
                .transpose()?
                .unwrap_or(false)
        }
        None => false,
    };
    let (body, msg_id, expunged_body) =
        crate::store::answer_columns(response.body, created_message, content_expunged);
    c.execute(
        &statement,
        &[
            &key,
            &response.request_digest,
            &i32::from(response.status),
            &body,
            &to_micros(now),
            &msg_id,
            &expunged_body,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}

/// Deletes at most `limit` records made before `cutoff`, skipping rows another node holds.
pub async fn purge_idempotency_before(
    c: &impl GenericClient,
    cutoff: Timestamp,
    limit: usize,
) -> Result<usize, StoreError> {
    let statement = c
        .prepare_cached(
            "DELETE FROM idempotency WHERE key IN (
                 SELECT key FROM idempotency WHERE created_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .await
        .map_err(backend)?;
    let purged = c
        .execute(
            &statement,
            &[
                &to_micros(cutoff),
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(backend)?;
    Ok(usize::try_from(purged).unwrap_or(usize::MAX))
}

pub async fn get_setting(c: &impl GenericClient, name: &str) -> Result<Option<String>, StoreError> {
    let statement = c
        .prepare_cached("SELECT value FROM setting WHERE name = $1")
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&name])
        .await
        .map_err(backend)?
        .map(|row| get(&row, 0))
        .transpose()
}

pub async fn put_setting(
    c: &impl GenericClient,
    name: &str,
    value: &str,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO setting (name, value) VALUES ($1, $2)
             ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .await
        .map_err(backend)?;
    c.execute(&statement, &[&name, &value])
        .await
        .map_err(backend)?;
    Ok(())
}
