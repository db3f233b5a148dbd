//! SQL for messages and the attempt log: the durable write of a message with its fan-out, and the
//! filtered listings that the API serves.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::deliveries::DueMarks;
use super::rows::{Cursor, Parameters, corrupt, from_micros, to_micros};
use super::{backend, get, missing_parent};
use crate::domain::{
    AppId, Attempt, AttemptDetails, AttemptId, ChannelName, DeliveryId, DeliveryStatus, EndpointId,
    EventTypeName, FanoutTarget, Message, MessageId, RecordedFailureCode, TriggerType,
};
use crate::store::{
    AttemptFilter, MessageFilter, MessageInsert, NewMessage, Page, PageRequest, StoreError,
};

const MESSAGE_COLUMNS: &str =
    "id, app_id, event_type, event_id, payload, channels, tags, deliver_at, created_at";

fn message_from_row(row: &Row) -> Result<Message, StoreError> {
    let event_type: String = get(row, 2)?;
    let channels: Vec<String> = get(row, 5)?;
    Ok(Message {
        id: MessageId::from_trusted(get::<String>(row, 0)?),
        app_id: AppId::from_trusted(get::<String>(row, 1)?),
        event_type: EventTypeName::parse(&event_type).map_err(corrupt)?,
        event_id: get(row, 3)?,
        payload: get(row, 4)?,
        channels: channels
            .iter()
            .map(|channel| ChannelName::parse(channel))
            .collect::<Result<_, _>>()
            .map_err(corrupt)?,
        tags: get(row, 6)?,
        deliver_at: get::<Option<i64>>(row, 7)?.map(from_micros),
        created_at: from_micros(get(row, 8)?),
    })
}

/// Inserts the message and one pending delivery per endpoint in `endpoints` (the application's
/// endpoints, read inside the caller's transaction) that accepts it.
///
/// A repeated `eventId` is detected by the unique index rather than by a read first, so two
/// nodes inserting the same `eventId` at once cannot both succeed: the second waits for the
/// first to commit and then finds its message.
pub async fn insert_message(
    c: &impl GenericClient,
    new: NewMessage,
    endpoints: &[FanoutTarget],
    due_marks: &mut DueMarks,
) -> Result<MessageInsert, StoreError> {
    let created_at = to_micros(new.now);
    let channels: Vec<&str> = new.channels.iter().map(ChannelName::as_str).collect();
    let insert = c
        .prepare_cached(
            "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags,
             deliver_at, created_at, content_type) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             ON CONFLICT (app_id, event_id) WHERE event_id IS NOT NULL DO NOTHING",
        )
        .await
        .map_err(backend)?;
    let inserted = c
        .execute(
            &insert,
            &[
                &new.id.as_str(),
                &new.app_id.as_str(),
                &new.event_type.as_str(),
                &new.event_id,
                &new.payload.as_str(),
                &channels,
                &new.tags,
                &new.deliver_at.map(to_micros),
                &created_at,
                &new.payload.content_type(),
            ],
        )
        .await
        .map_err(missing_parent("application not found"))?;
    if inserted == 0
        && let Some(event_id) = &new.event_id
    {
        let existing = find_by_event_id(c, &new.app_id, event_id).await?;
        return existing.map(MessageInsert::Duplicate).ok_or_else(|| {
            StoreError::Backend("a conflicting eventId vanished during the insert".into())
        });
    }

    let due_at = new.deliver_at.map_or(created_at, to_micros);
    let (delivery_ids, endpoint_ids): (Vec<String>, Vec<&str>) = endpoints
        .iter()
        .filter(|endpoint| endpoint.accepts(&new.event_type, &new.channels))
        .map(|endpoint| {
            let id = DeliveryId::generate(new.now, rand::random());
            due_marks.mark(endpoint.id.as_str(), new.app_id.as_str(), due_at);
            (id.to_string(), endpoint.id.as_str())
        })
        .unzip();
    if !delivery_ids.is_empty() {
        let fan_out = c
            .prepare_cached(
                "INSERT INTO delivery (id, app_id, msg_id, endpoint_id, status, trigger_type,
                 attempts_made, next_attempt_at)
                 SELECT delivery_id, $3, $4, endpoint_id, 1, 0, 0, $5
                 FROM unnest($1::text[], $2::text[]) AS fan_out(delivery_id, endpoint_id)",
            )
            .await
            .map_err(backend)?;
        c.execute(
            &fan_out,
            &[
                &delivery_ids,
                &endpoint_ids,
                &new.app_id.as_str(),
                &new.id.as_str(),
                &due_at,
            ],
        )
        .await
        .map_err(backend)?;
    }
    let message = Message {
        id: new.id,
        app_id: new.app_id,
        event_type: new.event_type,
        event_id: new.event_id,
        payload: Some(new.payload.into_string()),
        channels: new.channels,
        tags: new.tags,
        deliver_at: new.deliver_at,
        created_at: new.now,
    };
    Ok(MessageInsert::Created {
        message,
        deliveries: delivery_ids.len(),
    })
}

async fn find_by_event_id(
    c: &impl GenericClient,
    app_id: &AppId,
    event_id: &str,
) -> Result<Option<Message>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = $1 AND event_id = $2"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&app_id.as_str(), &event_id])
        .await
        .map_err(backend)?
        .as_ref()
        .map(message_from_row)
        .transpose()
}

pub async fn find_message(
    c: &impl GenericClient,
    app_id: &AppId,
    id_or_event_id: &str,
) -> Result<Option<Message>, StoreError> {
    let statement = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = $1 AND id = $2
             UNION ALL SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = $1 AND event_id = $2
             LIMIT 1"
        ))
        .await
        .map_err(backend)?;
    c.query_opt(&statement, &[&app_id.as_str(), &id_or_event_id])
        .await
        .map_err(backend)?
        .as_ref()
        .map(message_from_row)
        .transpose()
}

/// Adds the conditions on a message's event type, channels and tags (columns of `message`).
fn message_conditions(
    parameters: &mut Parameters,
    event_types: Option<&Vec<EventTypeName>>,
    channel: Option<&ChannelName>,
    tag: Option<&String>,
) -> String {
    let mut sql = String::new();
    if let Some(event_types) = event_types
        && !event_types.is_empty()
    {
        let names: Vec<String> = event_types
            .iter()
            .map(|name| name.as_str().to_owned())
            .collect();
        let names = parameters.push(names);
        sql.push_str(&format!(" AND message.event_type = ANY({names})"));
    }
    if let Some(channel) = channel {
        let channel = parameters.push(channel.as_str().to_owned());
        sql.push_str(&format!(" AND {channel} = ANY(message.channels)"));
    }
    if let Some(tag) = tag {
        let tag = parameters.push(tag.clone());
        sql.push_str(&format!(" AND {tag} = ANY(message.tags)"));
    }
    sql
}

/// `before`/`after` bounds on a `created_at` column.
fn time_conditions(parameters: &mut Parameters, filter_before_after: [Option<i64>; 2]) -> String {
    let [before, after] = filter_before_after;
    let mut sql = String::new();
    if let Some(before) = before {
        sql.push_str(&format!(" AND created_at < {}", parameters.push(before)));
    }
    if let Some(after) = after {
        sql.push_str(&format!(" AND created_at > {}", parameters.push(after)));
    }
    sql
}

pub async fn list_messages(
    c: &impl GenericClient,
    app_id: &AppId,
    filter: &MessageFilter,
    page: &PageRequest,
) -> Result<Page<Message>, StoreError> {
    let mut parameters = Parameters::default();
    let app = parameters.push(app_id.to_string());
    let mut conditions = format!(" AND app_id = {app}");
    conditions.push_str(&message_conditions(
        &mut parameters,
        filter.event_types.as_ref(),
        filter.channel.as_ref(),
        filter.tag.as_ref(),
    ));
    conditions.push_str(&time_conditions(
        &mut parameters,
        [filter.before.map(to_micros), filter.after.map(to_micros)],
    ));
    let cursor = Cursor::new("id", page, &mut parameters);
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM message WHERE TRUE {conditions} {} {} LIMIT {}",
        cursor.condition, cursor.order_by, cursor.fetch
    );
    let rows = c
        .query(&sql, &parameters.as_refs())
        .await
        .map_err(backend)?
        .iter()
        .map(message_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(cursor.page(rows, |message| message.id.to_string()))
}

pub const ATTEMPT_COLUMNS: &str = "id, app_id, msg_id, endpoint_id, url, status, \
     response_status_code, response, response_duration_ms, failure_code, trigger_type, created_at, \
     request_headers, response_headers, node_id";

pub fn attempt_from_row(row: &Row) -> Result<Attempt, StoreError> {
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

pub async fn list_attempts(
    c: &impl GenericClient,
    app_id: &AppId,
    msg_id: Option<&MessageId>,
    filter: &AttemptFilter,
    page: &PageRequest,
) -> Result<Page<Attempt>, StoreError> {
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
