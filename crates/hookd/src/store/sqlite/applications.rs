//! SQL for applications on SQLite, and their part of the contract.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::rows::{Cursor, corrupt, from_json, from_micros, to_json, to_micros};
use super::{SqliteStore, backend, unique};
use crate::domain::{AppId, Application, ApplicationFields, Timestamp, Uid};
use crate::store::{
    ApplicationChange, ApplicationFilter, ApplicationStore, Modified, Page, PageRequest, StoreError,
};

#[async_trait]
impl ApplicationStore for SqliteStore {
    async fn create_application(
        &self,
        id: AppId,
        fields: ApplicationFields,
        now: Timestamp,
    ) -> Result<Application, StoreError> {
        self.write(move |c| insert_application(c, id, fields, now))
            .await
    }

    async fn get_application(&self, id_or_uid: &str) -> Result<Option<Application>, StoreError> {
        let key = id_or_uid.to_owned();
        self.read(move |c| find_application(c, &key)).await
    }

    async fn list_applications(
        &self,
        page: PageRequest,
        filter: ApplicationFilter,
    ) -> Result<Page<Application>, StoreError> {
        self.read(move |c| {
            let page = &page;
            let filter = &filter;
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
        })
        .await
    }

    async fn modify_application(
        &self,
        id_or_uid: &str,
        change: ApplicationChange,
        now: Timestamp,
    ) -> Result<Modified<Application>, StoreError> {
        let key = id_or_uid.to_owned();
        self.write(move |c| modify_application(c, &key, change, now))
            .await
    }

    async fn delete_application(&self, id: &AppId) -> Result<bool, StoreError> {
        let id = id.clone();
        self.write(move |c| delete_application(c, &id)).await
    }
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

fn find_application(c: &Connection, id_or_uid: &str) -> Result<Option<Application>, StoreError> {
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

fn update_application(
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

/// Inserts a new application (also the internal one an inbound source owns).
pub(super) fn insert_application(
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

/// Deletes an application and, through the foreign keys, everything it owns.
pub(super) fn delete_application(c: &Connection, id: &AppId) -> Result<bool, StoreError> {
    let deleted = c
        .prepare_cached("DELETE FROM application WHERE id = ?1")
        .map_err(backend)?
        .execute([id.as_str()])
        .map_err(backend)?;
    Ok(deleted > 0)
}
