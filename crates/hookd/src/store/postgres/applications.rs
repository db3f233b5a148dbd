//! SQL for applications on PostgreSQL, and their part of the contract.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{
    Cursor, Parameters, corrupt, from_json, from_micros, optional_u32, to_json, to_micros,
};
use super::{PostgresStore, backend, get, retry_on_deadlock, unique};
use crate::domain::{AppId, Application, ApplicationFields, Timestamp, Uid};
use crate::store::{
    ApplicationChange, ApplicationFilter, ApplicationStore, Modified, Page, PageRequest, StoreError,
};

#[async_trait]
impl ApplicationStore for PostgresStore {
    async fn create_application(
        &self,
        id: AppId,
        fields: ApplicationFields,
        now: Timestamp,
    ) -> Result<Application, StoreError> {
        let client = self.client().await?;
        insert_application(&client, id, fields, now).await
    }

    async fn get_application(&self, id_or_uid: &str) -> Result<Option<Application>, StoreError> {
        let client = self.client().await?;
        let c = &client;
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

    async fn list_applications(
        &self,
        page: PageRequest,
        filter: ApplicationFilter,
    ) -> Result<Page<Application>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let page = &page;
        let filter = &filter;
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

    async fn modify_application(
        &self,
        id_or_uid: &str,
        change: ApplicationChange,
        now: Timestamp,
    ) -> Result<Modified<Application>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let modified = modify_application(&transaction, id_or_uid, change, now).await?;
        // Only a saved change has anything to commit; dropping the transaction rolls back.
        if matches!(modified, Modified::Saved(_)) {
            transaction.commit().await.map_err(backend)?;
        }
        Ok(modified)
    }

    async fn delete_application(&self, id: &AppId) -> Result<bool, StoreError> {
        retry_on_deadlock(|| async { delete_application(&self.client().await?, id).await }).await
    }
}

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

async fn update_application(
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

/// Deletes an application and, through the foreign keys, everything it owns.
pub(super) async fn delete_application(
    c: &impl GenericClient,
    id: &AppId,
) -> Result<bool, StoreError> {
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

/// Inserts a new application (also the internal one an inbound source owns).
pub(super) async fn insert_application(
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
