//! SQL for the attempt log on SQLite: writing attempts, and reading them back.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use super::messages::{Conditions, add_message_conditions};
use super::rows::{Cursor, from_micros, to_json, to_micros};
use super::{SqliteStore, backend};
use crate::domain::{
    AppId, Attempt, AttemptDetails, AttemptId, DeliveryStatus, EndpointId, MessageId,
    RecordedFailureCode, TriggerType,
};
use crate::store::{AttemptFilter, AttemptStore, Page, PageRequest, StoreError};

#[async_trait]
impl AttemptStore for SqliteStore {
    async fn list_attempts(
        &self,
        app_id: &AppId,
        msg_id: Option<&MessageId>,
        filter: AttemptFilter,
        page: PageRequest,
    ) -> Result<Page<Attempt>, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.cloned());
        self.read(move |c| {
            let app_id = &app_id;
            let msg_id = msg_id.as_ref();
            let filter = &filter;
            let page = &page;
    let mut conditions = Conditions::default();
    conditions.add("app_id = ?", [Value::Text(app_id.to_string())]);
    if let Some(msg_id) = msg_id {
        conditions.add("msg_id = ?", [Value::Text(msg_id.to_string())]);
    }
    if let Some(endpoint_id) = &filter.endpoint_id {
        conditions.add("endpoint_id = ?", [Value::Text(endpoint_id.to_string())]);
    }
    if let Some(status) = filter.status {
        conditions.add("status = ?", [Value::Integer(status as i64)]);
    }
    if let Some(class) = filter.status_code_class {
        let low = i64::from(class);
        let high = if class == 0 { 1 } else { low + 100 };
        conditions.add(
            "response_status_code >= ? AND response_status_code < ?",
            [Value::Integer(low), Value::Integer(high)],
        );
    }
    let mut by_message = Conditions::default();
    add_message_conditions(
        &mut by_message,
        filter.event_types.as_ref(),
        filter.channel.as_ref(),
        filter.tag.as_ref(),
    );
    if !by_message.sql.is_empty() {
        conditions.add(
            &format!(
                "msg_id IN (SELECT message.id FROM message WHERE message.app_id = attempt.app_id {})",
                by_message.sql
            ),
            by_message.parameters,
        );
    }
    conditions.created_between(filter.before, filter.after);
    let cursor = Cursor::new("id", page);
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM attempt WHERE 1 = 1 {} {} {} LIMIT {}",
        conditions.sql, cursor.condition, cursor.order_by, cursor.fetch
    );
    let parameters = conditions
        .parameters
        .into_iter()
        .chain(cursor.parameter.clone());
    let mut statement = c.prepare(&sql).map_err(backend)?;
    let rows = statement
        .query_map(params_from_iter(parameters), attempt_from_row)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok(cursor.page(rows, |attempt| attempt.id.to_string()))
        })
        .await
    }

    async fn get_attempt(
        &self,
        app_id: &AppId,
        attempt_id: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        let (app_id, attempt_id) = (app_id.clone(), attempt_id.to_owned());
        self.read(move |c| {
            let app_id = &app_id;
            let attempt_id = &attempt_id;
            c.prepare_cached(&format!(
                "SELECT {ATTEMPT_COLUMNS} FROM attempt WHERE app_id = ?1 AND id = ?2"
            ))
            .map_err(backend)?
            .query_row([app_id.as_str(), attempt_id], attempt_from_row)
            .optional()
            .map_err(backend)
        })
        .await
    }
}

pub const ATTEMPT_COLUMNS: &str = "id, app_id, msg_id, endpoint_id, url, status, \
     response_status_code, response, response_duration_ms, failure_code, trigger_type, created_at, \
     request_headers, response_headers, node_id";

fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<Attempt> {
    Ok(Attempt {
        id: AttemptId::from_trusted(row.get::<_, String>(0)?),
        app_id: AppId::from_trusted(row.get::<_, String>(1)?),
        msg_id: MessageId::from_trusted(row.get::<_, String>(2)?),
        endpoint_id: EndpointId::from_trusted(row.get::<_, String>(3)?),
        url: row.get(4)?,
        status: DeliveryStatus::from_code(row.get(5)?),
        response_status_code: row.get(6)?,
        response: row.get(7)?,
        response_duration_ms: u64::try_from(row.get::<_, i64>(8)?).unwrap_or(0),
        failure_code: row
            .get::<_, Option<String>>(9)?
            .as_deref()
            .map(RecordedFailureCode::parse),
        trigger_type: TriggerType::from_code(row.get(10)?),
        created_at: from_micros(row.get(11)?),
        details: AttemptDetails {
            request_headers: header_list(row.get(12)?),
            response_headers: header_list(row.get(13)?),
            node_id: row.get(14)?,
        },
    })
}

/// Header lists are written by hookd as JSON arrays of pairs; attempts from before they were
/// kept have none.
fn header_list(stored: Option<String>) -> Vec<(String, String)> {
    stored
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

pub fn insert_attempt(c: &Connection, attempt: &Attempt) -> Result<(), StoreError> {
    c.prepare_cached(
        "INSERT INTO attempt (id, app_id, msg_id, endpoint_id, url, status, response_status_code,
         response, response_duration_ms, failure_code, trigger_type, created_at, request_headers,
         response_headers, node_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )
    .map_err(backend)?
    .execute(params![
        attempt.id.as_str(),
        attempt.app_id.as_str(),
        attempt.msg_id.as_str(),
        attempt.endpoint_id.as_str(),
        attempt.url,
        attempt.status as i64,
        attempt.response_status_code,
        attempt.response,
        i64::try_from(attempt.response_duration_ms).unwrap_or(i64::MAX),
        attempt
            .failure_code
            .as_ref()
            .map(RecordedFailureCode::as_str),
        attempt.trigger_type as i64,
        to_micros(attempt.created_at),
        to_json(&attempt.details.request_headers)?,
        to_json(&attempt.details.response_headers)?,
        attempt.details.node_id,
    ])
    .map_err(backend)?;
    Ok(())
}
