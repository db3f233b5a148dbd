//! Conversions between PostgreSQL values and domain values, the numbered-parameter builder for
//! filtered queries, and the cursor paging shared by every listing. Nothing here decides what to
//! store; it only says how.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;

use super::backend;
use crate::domain::{InvalidInput, Timestamp};
use crate::store::paging::{Children, PagePlan};
use crate::store::{Page, PageRequest, StoreError};

/// Times are stored as microseconds since the Unix epoch, exactly as the SQLite backend does.
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

pub fn optional_json<T: Serialize>(value: &Option<T>) -> Result<Option<String>, StoreError> {
    value.as_ref().map(to_json).transpose()
}

/// A stored value that no longer parses as its domain type: the row is corrupt.
pub fn corrupt(error: InvalidInput) -> StoreError {
    backend(error)
}

/// Numbered query parameters (`$1`, `$2`, ...) collected while a filtered query is built.
#[derive(Default)]
pub struct Parameters {
    values: Vec<Box<dyn ToSql + Sync + Send>>,
}

impl Parameters {
    /// Adds a value and returns its placeholder.
    pub fn push(&mut self, value: impl ToSql + Sync + Send + 'static) -> String {
        self.values.push(Box::new(value));
        format!("${}", self.values.len())
    }

    pub fn as_refs(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.values
            .iter()
            .map(|value| value.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

/// The pieces of SQL that implement one page request over a sortable key column:
/// `WHERE ... {condition} ORDER BY {key} {direction} LIMIT {limit + 1}`.
pub struct Cursor {
    pub condition: String,
    pub order_by: String,
    pub fetch: i64,
    plan: PagePlan,
}

impl Cursor {
    /// Builds the cursor; its position, if any, is added to `parameters`.
    pub fn new(key_column: &str, page: &PageRequest, parameters: &mut Parameters) -> Self {
        let plan = PagePlan::new(page);
        let condition = match plan.position.clone() {
            Some(position) => {
                let placeholder = parameters.push(position);
                format!("AND {key_column} {} {placeholder}", plan.comparison)
            }
            None => String::new(),
        };
        Cursor {
            condition,
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
pub async fn page_of_children<T>(
    client: &impl deadpool_postgres::GenericClient,
    children: Children<'_>,
    parent: &str,
    page: &PageRequest,
    read: impl Fn(&tokio_postgres::Row) -> Result<T, StoreError>,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>, StoreError> {
    let mut parameters = Parameters::default();
    let placeholder = parameters.push(parent.to_owned());
    let cursor = Cursor::new("id", page, &mut parameters);
    let sql = format!(
        "SELECT {} FROM {} WHERE {} = {placeholder} {} {} LIMIT {}",
        children.columns,
        children.table,
        children.parent_column,
        cursor.condition,
        cursor.order_by,
        cursor.fetch
    );
    let items = client
        .query(&sql, &parameters.as_refs())
        .await
        .map_err(backend)?
        .iter()
        .map(read)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(items, key))
}

/// A nullable integer column as a `u32`; a value out of range reads as none.
pub fn optional_u32(value: Option<i64>) -> Option<u32> {
    value.and_then(|value| u32::try_from(value).ok())
}

/// A row count for a `LIMIT` parameter.
pub fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
