//! SQL for the event type catalogue on SQLite, and its part of the contract.

use std::collections::BTreeSet;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::rows::{Cursor, corrupt, from_json, from_micros, optional_json, to_micros};
use super::{SqliteStore, backend, unique};
use crate::domain::{EventType, EventTypeFields, EventTypeName, Timestamp};
use crate::store::event_types::new_event_type_revision;
use crate::store::{EventTypeChange, EventTypeStore, Modified, Page, PageRequest, StoreError};

#[async_trait]
impl EventTypeStore for SqliteStore {
    async fn create_event_type(
        &self,
        name: EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<EventType, StoreError> {
        let revision = new_event_type_revision();
        self.write(move |c| {
            c.prepare_cached(
        "INSERT INTO event_type (name, description, deprecated, archived, schemas, feature_flag,
         group_name, created_at, updated_at, enforce_schema, revision)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
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
        fields.enforce_schema,
        revision,
    ])
    .map_err(unique("an event type with this name already exists"))?;
            Ok(EventType {
                name,
                fields,
                revision,
                created_at: now,
                updated_at: now,
            })
        })
        .await
    }

    async fn get_event_type(&self, name: &EventTypeName) -> Result<Option<EventType>, StoreError> {
        let name = name.clone();
        self.read(move |c| find_event_type(c, &name)).await
    }

    async fn list_event_types(
        &self,
        page: PageRequest,
        include_archived: bool,
        visible_flags: Option<&BTreeSet<String>>,
    ) -> Result<Page<EventType>, StoreError> {
        let visible_flags = visible_flags.cloned();
        self.read(move |c| {
            let page = &page;
            let cursor = Cursor::new("name", page);
            let archived = if include_archived {
                ""
            } else {
                "AND archived = 0"
            };
            let mut parameters: Vec<rusqlite::types::Value> = Vec::new();
            let flagged = match &visible_flags {
                None => String::new(),
                Some(flags) => {
                    parameters.extend(flags.iter().cloned().map(rusqlite::types::Value::Text));
                    let placeholders = vec!["?"; flags.len()].join(", ");
                    format!("AND (feature_flag IS NULL OR feature_flag IN ({placeholders}))")
                }
            };
            parameters.extend(cursor.parameter.iter().cloned());
            let sql = format!(
                "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE 1 = 1 {archived} {flagged} {} {} \
                 LIMIT {}",
                cursor.condition, cursor.order_by, cursor.fetch
            );
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters.iter()), event_type_from_row)
                .map_err(backend)?
                .map(|row| row.map_err(backend)?)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(cursor.page(rows, |event_type| event_type.name.as_str().to_owned()))
        })
        .await
    }

    async fn flagged_event_types(&self) -> Result<Vec<(EventTypeName, String)>, StoreError> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT name, feature_flag FROM event_type WHERE feature_flag IS NOT NULL",
            )
            .map_err(backend)?
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(backend)?
            .map(|row| {
                let (name, flag) = row.map_err(backend)?;
                Ok((EventTypeName::parse(&name).map_err(corrupt)?, flag))
            })
            .collect()
        })
        .await
    }

    async fn update_event_type(
        &self,
        name: &EventTypeName,
        fields: EventTypeFields,
        now: Timestamp,
    ) -> Result<Option<EventType>, StoreError> {
        let name = name.clone();
        self.write(move |c| update_event_type(c, &name, fields, now))
            .await
    }

    async fn modify_event_type(
        &self,
        name: &EventTypeName,
        change: EventTypeChange,
        now: Timestamp,
    ) -> Result<Modified<EventType>, StoreError> {
        let name = name.clone();
        // One writer job, like `modify_application`: no write comes between the read and the
        // write.
        self.write(move |c| {
            let name = &name;
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
        })
        .await
    }

    async fn delete_event_type(&self, name: &EventTypeName) -> Result<bool, StoreError> {
        let name = name.clone();
        self.write(move |c| {
            let name = &name;
            let deleted = c
                .prepare_cached("DELETE FROM event_type WHERE name = ?1")
                .map_err(backend)?
                .execute([name.as_str()])
                .map_err(backend)?;
            Ok(deleted > 0)
        })
        .await
    }

    async fn enforced_schema_revision(
        &self,
        name: &EventTypeName,
    ) -> Result<Option<i64>, StoreError> {
        let name = name.clone();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT revision FROM event_type
                 WHERE name = ?1 AND enforce_schema = 1 AND archived = 0",
            )
            .map_err(backend)?
            .query_row([name.as_str()], |row| row.get(0))
            .optional()
            .map_err(backend)
        })
        .await
    }
}

const EVENT_TYPE_COLUMNS: &str = "name, description, deprecated, archived, schemas, \
     feature_flag, group_name, created_at, updated_at, enforce_schema, revision";

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
                enforce_schema: row.get(9).map_err(backend)?,
            },
            revision: row.get(10).map_err(backend)?,
            created_at: from_micros(row.get(7).map_err(backend)?),
            updated_at: from_micros(row.get(8).map_err(backend)?),
        })
    })())
}

fn find_event_type(c: &Connection, name: &EventTypeName) -> Result<Option<EventType>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {EVENT_TYPE_COLUMNS} FROM event_type WHERE name = ?1"
    ))
    .map_err(backend)?
    .query_row([name.as_str()], event_type_from_row)
    .optional()
    .map_err(backend)?
    .transpose()
}

fn update_event_type(
    c: &Connection,
    name: &EventTypeName,
    fields: EventTypeFields,
    now: Timestamp,
) -> Result<Option<EventType>, StoreError> {
    let changed = c
        .prepare_cached(
            "UPDATE event_type SET description = ?2, deprecated = ?3, archived = ?4, schemas = ?5,
             feature_flag = ?6, group_name = ?7, updated_at = ?8, enforce_schema = ?9,
             revision = ?10 WHERE name = ?1",
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
            fields.enforce_schema,
            new_event_type_revision(),
        ])
        .map_err(backend)?;
    if changed == 0 {
        return Ok(None);
    }
    find_event_type(c, name)
}
