//! SQL for the event type catalogue on PostgreSQL, and its part of the contract.

use std::collections::BTreeSet;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::rows::{Cursor, Parameters, corrupt, from_json, from_micros, optional_json, to_micros};
use super::{PostgresStore, backend, get, unique};
use crate::domain::{EventType, EventTypeFields, EventTypeName, Timestamp};
use crate::store::event_types::new_event_type_revision;
use crate::store::{EventTypeChange, EventTypeStore, Modified, Page, PageRequest, StoreError};

#[async_trait]
impl EventTypeStore for PostgresStore {
    async fn create_event_type(
        &self,
        name: EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<EventType, StoreError> {
        let revision = new_event_type_revision();
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached(
                "INSERT INTO event_type (name, description, deprecated, archived, schemas,
             feature_flag, group_name, created_at, updated_at, enforce_schema, revision)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9, $10)",
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
                &fields.enforce_schema,
                &revision,
            ],
        )
        .await
        .map_err(unique("an event type with this name already exists"))?;
        Ok(EventType {
            name,
            fields,
            revision,
            created_at: now,
            updated_at: now,
        })
    }

    async fn get_event_type(&self, name: &EventTypeName) -> Result<Option<EventType>, StoreError> {
        let client = self.client().await?;
        let c = &client;
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

    async fn list_event_types(
        &self,
        page: PageRequest,
        include_archived: bool,
        visible_flags: Option<&BTreeSet<String>>,
    ) -> Result<Page<EventType>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let page = &page;
        let mut parameters = Parameters::default();
        let cursor = Cursor::new("name", page, &mut parameters);
        let archived = if include_archived {
            ""
        } else {
            "AND NOT archived"
        };
        let flagged = match visible_flags {
            None => String::new(),
            Some(flags) => {
                let flags = parameters.push(flags.iter().cloned().collect::<Vec<String>>());
                format!("AND (feature_flag IS NULL OR feature_flag = ANY({flags}))")
            }
        };
        let sql = format!(
            "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE TRUE {archived} {flagged} {} {} \
             LIMIT {}",
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

    async fn flagged_event_types(&self) -> Result<Vec<(EventTypeName, String)>, StoreError> {
        self.client()
            .await?
            .query(
                "SELECT name, feature_flag FROM event_type WHERE feature_flag IS NOT NULL",
                &[],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                let name = get::<String>(row, 0)?;
                Ok((
                    EventTypeName::parse(&name).map_err(corrupt)?,
                    get::<String>(row, 1)?,
                ))
            })
            .collect()
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<Option<EventType>, StoreError> {
        update_event_type(&self.client().await?, name, fields, now).await
    }

    async fn modify_event_type(
        &self,
        name: &EventTypeName,
        change: EventTypeChange,
        now: Timestamp,
    ) -> Result<Modified<EventType>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let modified = modify_event_type(&transaction, name, change, now).await?;
        // Only a saved change has anything to commit; dropping the transaction rolls back.
        if matches!(modified, Modified::Saved(_)) {
            transaction.commit().await.map_err(backend)?;
        }
        Ok(modified)
    }

    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let c = &client;
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

    async fn enforced_schema_revision(
        &self,
        name: &EventTypeName,
    ) -> Result<Option<i64>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached(
                "SELECT revision FROM event_type
                 WHERE name = $1 AND enforce_schema AND NOT archived",
            )
            .await
            .map_err(backend)?;
        c.query_opt(&statement, &[&name.as_str()])
            .await
            .map_err(backend)?
            .map(|row| get(&row, 0))
            .transpose()
    }
}

const EVENT_TYPE_COLUMNS: &str = "name, description, deprecated, archived, schemas, \
     feature_flag, group_name, created_at, updated_at, enforce_schema, revision";

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
            enforce_schema: get(row, 9)?,
        },
        revision: get(row, 10)?,
        created_at: from_micros(get(row, 7)?),
        updated_at: from_micros(get(row, 8)?),
    })
}

/// Applies `change` to the event type named `name`, holding its row lock from the read to the
/// caller's commit like `modify_application`.
async fn modify_event_type(
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

async fn update_event_type(
    c: &impl GenericClient,
    name: &EventTypeName,
    fields: EventTypeFields,
    now: Timestamp,
) -> Result<Option<EventType>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "UPDATE event_type SET description = $2, deprecated = $3, archived = $4,
             schemas = $5, feature_flag = $6, group_name = $7, updated_at = $8,
             enforce_schema = $9, revision = $10
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
            &fields.enforce_schema,
            &new_event_type_revision(),
        ],
    )
    .await
    .map_err(backend)?
    .as_ref()
    .map(event_type_from_row)
    .transpose()
}
