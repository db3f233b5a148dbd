//! Conversions between SQLite values and domain values, and the cursor paging shared by every
//! listing. Nothing here decides what to store; it only says how.

use chrono::{DateTime, Utc};
use rusqlite::types::Value;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::backend;
use crate::domain::{InvalidInput, Timestamp};
use crate::store::paging::{Children, PagePlan};
use crate::store::{Page, PageRequest, StoreError};

/// Times are stored as microseconds since the Unix epoch.
pub fn to_micros(time: Timestamp) -> i64 {
    time.timestamp_micros()
}

pub fn from_micros(micros: i64) -> Timestamp {
    DateTime::<Utc>::from_timestamp_micros(micros).unwrap_or_default()
}

pub fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(backend)
}

pub fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(backend)
}

/// A stored value that no longer parses as its domain type: the row is corrupt.
pub fn corrupt(error: InvalidInput) -> StoreError {
    backend(error)
}

/// The pieces of SQL and the parameter that implement one page request over a sortable key
/// column: `WHERE ... {condition} ORDER BY {key} {direction} LIMIT {limit + 1}`.
pub struct Cursor {
    pub condition: String,
    pub parameter: Option<Value>,
    pub order_by: String,
    pub fetch: i64,
    plan: PagePlan,
}

impl Cursor {
    pub fn new(key_column: &str, page: &PageRequest) -> Self {
        let plan = PagePlan::new(page);
        let condition = match plan.position {
            Some(_) => format!("AND {key_column} {} ?", plan.comparison),
            None => String::new(),
        };
        Cursor {
            condition,
            parameter: plan.position.clone().map(Value::Text),
            order_by: format!("ORDER BY {key_column} {}", plan.direction),
            fetch: plan.fetch,
            plan,
        }
    }

    /// Turns the fetched rows (one more than the limit, when there are more) into a page.
    pub fn page<T>(&self, rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        self.plan.page(rows, key)
    }
}

/// One page, by id, of the `children` rows whose parent column is `parent`, each read by `read`.
pub fn page_of_children<T>(
    c: &rusqlite::Connection,
    children: Children<'_>,
    parent: &str,
    page: &PageRequest,
    read: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, StoreError> {
    let cursor = Cursor::new("id", page);
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = ? {} {} LIMIT {}",
        children.columns,
        children.table,
        children.parent_column,
        cursor.condition,
        cursor.order_by,
        cursor.fetch
    );
    let mut parameters = vec![Value::Text(parent.to_owned())];
    parameters.extend(cursor.parameter.iter().cloned());
    let mut statement = c.prepare_cached(&sql).map_err(backend)?;
    let mut rows = statement
        .query(rusqlite::params_from_iter(parameters.iter()))
        .map_err(backend)?;
    let mut items = Vec::new();
    while let Some(row) = rows.next().map_err(backend)? {
        items.push(read(row)?);
    }
    Ok(cursor.page(items, key))
}

/// An optional value as a nullable JSON column.
pub fn optional_json<T: serde::Serialize>(value: &Option<T>) -> Result<Option<String>, StoreError> {
    value.as_ref().map(to_json).transpose()
}
