//! SQL for the attempt log on PostgreSQL: writing a batch of attempts, and reading them back.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::messages::{message_conditions, time_conditions};
use super::rows::{Cursor, Parameters, from_micros, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::{
    AppId, Attempt, AttemptDetails, AttemptId, DeliveryStatus, EndpointId, MessageId,
    RecordedFailureCode, TriggerType,
};
use crate::store::{AttemptFilter, AttemptStore, Page, PageRequest, StoreError};

#[async_trait]
impl AttemptStore for PostgresStore {
    async fn list_attempts(
        &self,
        app_id: &AppId,
        msg_id: Option<&MessageId>,
        filter: AttemptFilter,
        page: PageRequest,
    ) -> Result<Page<Attempt>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let filter = &filter;
        let page = &page;
        let mut parameters = Parameters::default();
        let app = parameters.push(app_id.to_string());
        let mut conditions = format!(" AND app_id = {app}");
        if let Some(msg_id) = msg_id {
            let msg = parameters.push(msg_id.to_string());
            conditions.push_str(&format!(" AND msg_id = {msg}"));
        }
        if let Some(endpoint_id) = &filter.endpoint_id {
            let endpoint = parameters.push(endpoint_id.to_string());
            conditions.push_str(&format!(" AND endpoint_id = {endpoint}"));
        }
        if let Some(status) = filter.status {
            let status = parameters.push(status as i16);
            conditions.push_str(&format!(" AND status = {status}"));
        }
        if let Some(class) = filter.status_code_class {
            let low = i32::from(class);
            let high = if class == 0 { 1 } else { low + 100 };
            let (low, high) = (parameters.push(low), parameters.push(high));
            conditions.push_str(&format!(
                " AND response_status_code >= {low} AND response_status_code < {high}"
            ));
        }
        let by_message = message_conditions(
            &mut parameters,
            filter.event_types.as_ref(),
            filter.channel.as_ref(),
            filter.tag.as_ref(),
        );
        if !by_message.is_empty() {
            conditions.push_str(&format!(
                " AND msg_id IN (SELECT message.id FROM message
               WHERE message.app_id = attempt.app_id {by_message})"
            ));
        }
        conditions.push_str(&time_conditions(
            &mut parameters,
            [filter.before.map(to_micros), filter.after.map(to_micros)],
        ));
        let cursor = Cursor::new("id", page, &mut parameters);
        let sql = format!(
            "SELECT {ATTEMPT_COLUMNS} FROM attempt WHERE TRUE {conditions} {} {} LIMIT {}",
            cursor.condition, cursor.order_by, cursor.fetch
        );
        let rows = c
            .query(&sql, &parameters.as_refs())
            .await
            .map_err(backend)?
            .iter()
            .map(attempt_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(cursor.page(rows, |attempt| attempt.id.to_string()))
    }

    async fn get_attempt(
        &self,
        app_id: &AppId,
        attempt_id: &str,
    ) -> Result<Option<Attempt>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        c.query_opt(
            &format!("SELECT {ATTEMPT_COLUMNS} FROM attempt WHERE app_id = $1 AND id = $2"),
            &[&app_id.as_str(), &attempt_id],
        )
        .await
        .map_err(backend)?
        .as_ref()
        .map(attempt_from_row)
        .transpose()
    }
}

pub const ATTEMPT_COLUMNS: &str = "id, app_id, msg_id, endpoint_id, url, status, \
     response_status_code, response, response_duration_ms, failure_code, trigger_type, created_at, \
     request_headers, response_headers, node_id";

fn attempt_from_row(row: &Row) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        id: AttemptId::from_trusted(get::<String>(row, 0)?),
        app_id: AppId::from_trusted(get::<String>(row, 1)?),
        msg_id: MessageId::from_trusted(get::<String>(row, 2)?),
        endpoint_id: EndpointId::from_trusted(get::<String>(row, 3)?),
        url: get(row, 4)?,
        status: DeliveryStatus::from_code(i64::from(get::<i16>(row, 5)?)),
        response_status_code: u16::try_from(get::<i32>(row, 6)?).unwrap_or(0),
        response: get(row, 7)?,
        response_duration_ms: u64::try_from(get::<i64>(row, 8)?).unwrap_or(0),
        failure_code: get::<Option<String>>(row, 9)?
            .as_deref()
            .map(RecordedFailureCode::parse),
        trigger_type: TriggerType::from_code(i64::from(get::<i16>(row, 10)?)),
        created_at: from_micros(get(row, 11)?),
        details: AttemptDetails {
            request_headers: header_list(get(row, 12)?),
            response_headers: header_list(get(row, 13)?),
            node_id: get(row, 14)?,
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

/// Inserts attempts in one statement. PostgreSQL text cannot hold NUL, which a receiver's
/// response body may contain; those characters are replaced so the record is never refused.
pub async fn insert_attempts(
    c: &impl GenericClient,
    attempts: &[&Attempt],
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO attempt (id, app_id, msg_id, endpoint_id, url, status,
             response_status_code, response, response_duration_ms, failure_code, trigger_type,
             created_at, request_headers, response_headers, node_id)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
             $6::smallint[], $7::integer[], $8::text[], $9::bigint[], $10::text[],
             $11::smallint[], $12::bigint[], $13::text[], $14::text[], $15::text[])",
        )
        .await
        .map_err(backend)?;
    let ids: Vec<&str> = attempts.iter().map(|a| a.id.as_str()).collect();
    let app_ids: Vec<&str> = attempts.iter().map(|a| a.app_id.as_str()).collect();
    let msg_ids: Vec<&str> = attempts.iter().map(|a| a.msg_id.as_str()).collect();
    let endpoint_ids: Vec<&str> = attempts.iter().map(|a| a.endpoint_id.as_str()).collect();
    let urls: Vec<&str> = attempts.iter().map(|a| a.url.as_str()).collect();
    let statuses: Vec<i16> = attempts.iter().map(|a| a.status as i16).collect();
    let codes: Vec<i32> = attempts
        .iter()
        .map(|a| i32::from(a.response_status_code))
        .collect();
    let responses: Vec<String> = attempts
        .iter()
        .map(|a| a.response.replace('\0', "\u{FFFD}"))
        .collect();
    let durations: Vec<i64> = attempts
        .iter()
        .map(|a| i64::try_from(a.response_duration_ms).unwrap_or(i64::MAX))
        .collect();
    let failure_codes: Vec<Option<&str>> = attempts
        .iter()
        .map(|a| a.failure_code.as_ref().map(RecordedFailureCode::as_str))
        .collect();
    let triggers: Vec<i16> = attempts.iter().map(|a| a.trigger_type as i16).collect();
    let created: Vec<i64> = attempts.iter().map(|a| to_micros(a.created_at)).collect();
    // JSON escapes any NUL in a header value, so the text is always storable.
    let header_json =
        |headers: &Vec<(String, String)>| serde_json::to_string(headers).unwrap_or_default();
    let sent: Vec<String> = attempts
        .iter()
        .map(|a| header_json(&a.details.request_headers))
        .collect();
    let received: Vec<String> = attempts
        .iter()
        .map(|a| header_json(&a.details.response_headers))
        .collect();
    let nodes: Vec<Option<&str>> = attempts
        .iter()
        .map(|a| a.details.node_id.as_deref())
        .collect();
    c.execute(
        &statement,
        &[
            &ids,
            &app_ids,
            &msg_ids,
            &endpoint_ids,
            &urls,
            &statuses,
            &codes,
            &responses,
            &durations,
            &failure_codes,
            &triggers,
            &created,
            &sent,
            &received,
            &nodes,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}
