//! Conversions between PostgreSQL values and domain values, the numbered-parameter builder for
//! filtered queries, and the cursor paging shared by every listing. Nothing here decides what to
//! store; it only says how.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::types::ToSql;

use super::backend;
use crate::domain::{InvalidInput, Timestamp};
use crate::store::{Order, Page, PageRequest, StoreError};

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
    /// Rows come back in the opposite order (paging backwards) and must be reversed.
    reverse: bool,
    limit: usize,
}

impl Cursor {
    /// Builds the cursor; its position, if any, is added to `parameters`.
    pub fn new(key_column: &str, page: &PageRequest, parameters: &mut Parameters) -> Self {
        let backwards = page
            .iterator
            .as_deref()
            .is_some_and(|iterator| iterator.starts_with('-'));
        let position = page
            .iterator
            .as_deref()
            .map(|iterator| iterator.trim_start_matches('-').to_owned());
        // Walking forward in ascending order means keys greater than the cursor, and so on.
        let ascending_scan = matches!(
            (page.order, backwards),
            (Order::Ascending, false) | (Order::Descending, true)
        );
        let (comparison, direction) = if ascending_scan {
            (">", "ASC")
        } else {
            ("<", "DESC")
        };
        let condition = match position {
            Some(position) => {
                let placeholder = parameters.push(position);
                format!("AND {key_column} {comparison} {placeholder}")
            }
            None => String::new(),
        };
        Cursor {
            condition,
            order_by: format!("ORDER BY {key_column} {direction}"),
            fetch: i64::try_from(page.limit)
                .unwrap_or(i64::MAX)
                .saturating_add(1),
            reverse: backwards,
            limit: page.limit,
        }
    }

    /// Turns the fetched rows (one more than the limit, when there are more) into a page.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > self.limit;
        rows.truncate(self.limit);
        if self.reverse {
            rows.reverse();
        }
        let iterator = rows.last().map(&key);
        let prev_iterator = rows.first().map(|first| format!("-{}", key(first)));
        // Paging backwards, "done" means there is nothing further back; Svix reports the same.
        Page {
            items: rows,
            iterator,
            prev_iterator,
            done: !more,
        }
    }
}
