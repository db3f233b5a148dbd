//! SQL for endpoints on PostgreSQL (their rows, and the targets a message fans out to), and
//! their part of the contract. Every write raises its `endpoint.*` event in its transaction
//! (`outbox`).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{
    Cursor, Parameters, corrupt, from_json, from_micros, optional_json, optional_u32, to_json,
    to_micros,
};
use super::{
    PostgresStore, backend, get, outbox, retry_on_deadlock, unique, unique_or_missing_parent,
};
use crate::domain::operational::OperationalEvent;
use crate::domain::{
    AppId, DeliveryOptions, Endpoint, EndpointFields, EndpointId, EndpointUrl, Timestamp, Uid,
};
use crate::policy::retry::RetrySchedule;
use crate::store::sealing::{Place, Sealing, endpoint_columns};
use crate::store::{
    EndpointChange, EndpointStore, Modified, NewEndpoint, Page, PageRequest, StoreError, stored,
};

#[async_trait]
impl EndpointStore for PostgresStore {
    async fn create_endpoint(
        &self,
        app_id: &AppId,
        endpoint: NewEndpoint,
    ) -> Result<Endpoint, StoreError> {
        let now = endpoint.now;
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let endpoint = insert_endpoint(&transaction, &self.sealing, app_id, endpoint).await?;
        let added = outbox::raise_endpoint_event(
            &transaction,
            &self.filters,
            app_id,
            &endpoint.id,
            OperationalEvent::EndpointCreated,
            now,
        )
        .await?;
        transaction.commit().await.map_err(backend)?;
        self.committed(added);
        Ok(endpoint)
    }

    async fn get_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
    ) -> Result<Option<Endpoint>, StoreError> {
        find_endpoint(&self.client().await?, &self.sealing, app_id, id_or_uid).await
    }

    async fn list_endpoints(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<Endpoint>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let page = &page;
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
            .map(|row| endpoint_from_row(&self.sealing, row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursor.page(rows, |endpoint| endpoint.id.to_string()))
    }

    async fn modify_endpoint(
        &self,
        app_id: &AppId,
        id_or_uid: &str,
        change: EndpointChange,
        now: Timestamp,
    ) -> Result<Modified<Endpoint>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let modified =
            modify_endpoint(&transaction, &self.sealing, app_id, id_or_uid, change, now).await?;
        // Only a saved change has anything to commit; dropping the transaction rolls back.
        if let Modified::Saved(endpoint) = &modified {
            let added = outbox::raise_endpoint_event(
                &transaction,
                &self.filters,
                app_id,
                &endpoint.id,
                OperationalEvent::EndpointUpdated,
                now,
            )
            .await?;
            transaction.commit().await.map_err(backend)?;
            self.committed(added);
        }
        Ok(modified)
    }

    async fn delete_endpoint(
        &self,
        app_id: &AppId,
        id: &EndpointId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let added = retry_on_deadlock(|| async {
            let mut client = self.client().await?;
            let transaction = client.transaction().await.map_err(backend)?;
            // Who the event is about is read before the row is gone.
            let Some(endpoint) = outbox::endpoint_ref(&transaction, app_id, id).await? else {
                return Ok(None);
            };
            if !delete_endpoint(&transaction, app_id, id).await? {
                return Ok(None);
            }
            let added = outbox::raise(
                &transaction,
                &self.filters,
                &[OperationalEvent::EndpointDeleted(endpoint)],
                now,
            )
            .await?;
            transaction.commit().await.map_err(backend)?;
            Ok(Some(added))
        })
        .await?;
        Ok(added.inspect(|added| self.committed(*added)).is_some())
    }
}

const ENDPOINT_COLUMNS: &str = "id, app_id, uid, url, description, version, disabled, \
     event_types, channels, throttle_rate, metadata, headers, created_at, updated_at, \
     max_in_flight, ordered, retry_schedule, auth, content_filter";

fn endpoint_from_row(sealing: &Sealing, row: &Row) -> Result<Endpoint, StoreError> {
    let id: String = get(row, 0)?;
    let uid: Option<String> = get(row, 2)?;
    let url: String = get(row, 3)?;
    let event_types: Option<String> = get(row, 7)?;
    let channels: Option<String> = get(row, 8)?;
    let metadata: String = get(row, 10)?;
    let headers: String = get(row, 11)?;
    Ok(Endpoint {
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
            filter: stored::content_filter(get::<Option<String>>(row, 18)?.as_deref())?,
            throttle_rate: optional_u32(get(row, 9)?),
            metadata: from_json(&metadata)?,
            headers: from_json(&sealing.open(Place::endpoint_headers(&id), &headers)?)?,
            delivery: delivery_options(sealing, &id, row, 14)?,
        },
        id: EndpointId::from_trusted(id),
        created_at: from_micros(get(row, 12)?),
        updated_at: from_micros(get(row, 13)?),
    })
}

/// Reads `max_in_flight, ordered, retry_schedule, auth` starting at column `first` (`auth`
/// opened, as endpoint `endpoint_id`'s).
pub fn delivery_options(
    sealing: &Sealing,
    endpoint_id: &str,
    row: &Row,
    first: usize,
) -> Result<DeliveryOptions, StoreError> {
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
        auth: auth
            .map(|auth| sealing.open(Place::endpoint_auth(endpoint_id), &auth))
            .transpose()?
            .as_deref()
            .map(from_json)
            .transpose()?,
    })
}

async fn insert_endpoint(
    c: &impl GenericClient,
    sealing: &Sealing,
    app_id: &AppId,
    endpoint: NewEndpoint,
) -> Result<Endpoint, StoreError> {
    let fields = &endpoint.fields;
    let id = endpoint.id.as_str();
    let (headers, auth) = endpoint_columns(sealing, id, fields).map_err(backend)?;
    let secret = sealing.seal(Place::endpoint_secret(id), &endpoint.secret.to_string());
    let statement = c
        .prepare_cached(
            "WITH inserted AS (
                 INSERT INTO endpoint (id, app_id, uid, url, description, version, disabled,
                 event_types, channels, throttle_rate, metadata, headers, created_at, updated_at,
                 max_in_flight, ordered, retry_schedule, auth, content_filter)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $15, $16,
                 $17, $18, $19)
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
            &headers,
            &to_micros(endpoint.now),
            &secret,
            &fields.delivery.max_in_flight.map(i64::from),
            &fields.delivery.ordered,
            &fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            &auth,
            &stored::content_filter_column(fields.filter.as_ref()),
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
    sealing: &Sealing,
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
        .map(|row| endpoint_from_row(sealing, row))
        .transpose()
}

async fn update_endpoint(
    c: &impl GenericClient,
    sealing: &Sealing,
    app_id: &AppId,
    id: &EndpointId,
    fields: EndpointFields,
    now: Timestamp,
) -> Result<Option<Endpoint>, StoreError> {
    let (headers, auth) = endpoint_columns(sealing, id.as_str(), &fields).map_err(backend)?;
    let statement = c
        .prepare_cached(&format!(
            "UPDATE endpoint SET uid = $3, url = $4, description = $5, version = $6,
             disabled = $7, event_types = $8, channels = $9, throttle_rate = $10,
             metadata = $11, headers = $12, updated_at = $13, max_in_flight = $14,
             ordered = $15, retry_schedule = $16, auth = $17, content_filter = $18
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
            &headers,
            &to_micros(now),
            &fields.delivery.max_in_flight.map(i64::from),
            &fields.delivery.ordered,
            &fields
                .delivery
                .retry_schedule
                .as_ref()
                .map(ToString::to_string),
            &auth,
            &stored::content_filter_column(fields.filter.as_ref()),
        ],
    )
    .await
    .map_err(unique("an endpoint with this uid already exists"))?
    .as_ref()
    .map(|row| endpoint_from_row(sealing, row))
    .transpose()
}

/// Applies `change` to the endpoint found by `id_or_uid`, holding its row lock from the read
/// to the caller's commit like `modify_application`.
async fn modify_endpoint(
    c: &impl GenericClient,
    sealing: &Sealing,
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
    let current = endpoint_from_row(sealing, &row)?;
    let fields = match change(&current) {
        Ok(fields) => fields,
        Err(refused) => return Ok(Modified::Refused(refused)),
    };
    Ok(
        match update_endpoint(c, sealing, app_id, &current.id, fields, now).await? {
            Some(saved) => Modified::Saved(saved),
            None => Modified::Missing,
        },
    )
}

async fn delete_endpoint(
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
