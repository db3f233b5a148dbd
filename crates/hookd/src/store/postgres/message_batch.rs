//! The message writer's batch insert on PostgreSQL: every API message of one writer batch, with
//! its fan-out, in a fixed number of statements whatever the batch's size (fan-out read, message
//! insert, duplicate read when an `eventId` repeats, delivery insert), instead of several per
//! message.
//!
//! Each message keeps the outcome it had when written alone: a repeated `eventId` (in an earlier
//! commit or earlier in this batch) is refused for that message only, found by the unique index
//! rather than by a read first. A message whose application is gone fails the whole statement
//! (foreign key), and so the batch; the writer then writes each message alone, which gives that
//! one its `NotFound` and the others their commit. It must not hold per-message policy: who
//! receives a message is `Recipients::include`, as in `messages::insert_message`.

use std::collections::HashMap;

use deadpool_postgres::GenericClient;

use super::deliveries::DueMarks;
use super::messages::{MESSAGE_COLUMNS, fanout_target_from_row, message_from_row};
use super::rows::to_micros;
use super::{backend, get, missing_parent};
use crate::domain::{AppId, ChannelName, DeliveryId, FanoutTarget, Message};
use crate::store::parsed_filters::ParsedFilters;
use crate::store::stored::original_headers_column;
use crate::store::{MessageInsert, NewMessage, StoreError};

/// Inserts `messages` and one pending delivery per matching endpoint of each, inside the
/// caller's transaction, and answers one outcome per message, in order.
pub async fn insert_messages(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    messages: Vec<NewMessage>,
    due_marks: &mut DueMarks,
) -> Result<Vec<MessageInsert>, StoreError> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let endpoints = fanout_targets_of(c, filters, &messages).await?;
    let inserted = insert_message_rows(c, &messages).await?;
    let duplicates = find_duplicates(c, &messages, &inserted).await?;

    let mut delivery_rows = DeliveryRows::default();
    let mut results = Vec::with_capacity(messages.len());
    for new in messages {
        if !inserted.contains(new.id.as_str()) {
            let key = (
                new.app_id.to_string(),
                new.event_id.clone().unwrap_or_default(),
            );
            let existing = duplicates.get(&key).cloned().ok_or_else(|| {
                StoreError::Backend("a conflicting eventId vanished during the insert".into())
            })?;
            results.push(MessageInsert::Duplicate(existing));
            continue;
        }
        let targets = endpoints.get(&new.app_id).map_or(&[][..], Vec::as_slice);
        let deliveries = delivery_rows.fan_out(&new, targets, due_marks);
        results.push(MessageInsert::Created {
            message: new.into_committed(),
            deliveries,
        });
    }
    delivery_rows.insert(c).await?;
    Ok(results)
}

/// The fan-out targets of every application in the batch, in one read.
async fn fanout_targets_of(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    messages: &[NewMessage],
) -> Result<HashMap<AppId, Vec<FanoutTarget>>, StoreError> {
    let mut app_ids: Vec<&str> = messages.iter().map(|m| m.app_id.as_str()).collect();
    app_ids.sort_unstable();
    app_ids.dedup();
    let statement = c
        .prepare_cached(
            "SELECT id, disabled, event_types, channels, content_filter, url = 'polling:', app_id
             FROM endpoint WHERE app_id = ANY($1)",
        )
        .await
        .map_err(backend)?;
    let mut targets: HashMap<AppId, Vec<FanoutTarget>> = HashMap::new();
    for row in c.query(&statement, &[&app_ids]).await.map_err(backend)? {
        let app_id = AppId::from_trusted(get::<String>(&row, 6)?);
        targets
            .entry(app_id)
            .or_default()
            .push(fanout_target_from_row(filters, &row)?);
    }
    Ok(targets)
}

/// Inserts every message row in one statement; answers the ids inserted (a message whose
/// `eventId` its application already has, or had earlier in the batch, is left out).
async fn insert_message_rows(
    c: &impl GenericClient,
    messages: &[NewMessage],
) -> Result<std::collections::HashSet<String>, StoreError> {
    let mut columns = MessageColumns::default();
    for new in messages {
        columns.push(new)?;
    }
    let insert = c
        .prepare_cached(
            "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags,
             deliver_at, created_at, content_type, original_headers)
             SELECT id, app_id, event_type, event_id, payload,
                    ARRAY(SELECT json_array_elements_text(channels::json)),
                    ARRAY(SELECT json_array_elements_text(tags::json)),
                    deliver_at, created_at, content_type, original_headers
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[], $8::bigint[], $9::bigint[], $10::text[], $11::text[])
                  AS batch(id, app_id, event_type, event_id, payload, channels, tags,
                           deliver_at, created_at, content_type, original_headers)
             ON CONFLICT (app_id, event_id) WHERE event_id IS NOT NULL DO NOTHING
             RETURNING id",
        )
        .await
        .map_err(backend)?;
    let rows = c
        .query(
            &insert,
            &[
                &columns.id,
                &columns.app_id,
                &columns.event_type,
                &columns.event_id,
                &columns.payload,
                &columns.channels,
                &columns.tags,
                &columns.deliver_at,
                &columns.created_at,
                &columns.content_type,
                &columns.original_headers,
            ],
        )
        .await
        .map_err(missing_parent("application not found"))?;
    rows.iter().map(|row| get::<String>(row, 0)).collect()
}

/// The messages already there for every message of the batch that was not inserted, by
/// (application, `eventId`), in one read.
async fn find_duplicates(
    c: &impl GenericClient,
    messages: &[NewMessage],
    inserted: &std::collections::HashSet<String>,
) -> Result<HashMap<(String, String), Message>, StoreError> {
    let (app_ids, event_ids): (Vec<&str>, Vec<&str>) = messages
        .iter()
        .filter(|new| !inserted.contains(new.id.as_str()))
        .filter_map(|new| Some((new.app_id.as_str(), new.event_id.as_deref()?)))
        .unzip();
    if app_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let statement = c
        .prepare_cached(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM message
             WHERE (app_id, event_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
        ))
        .await
        .map_err(backend)?;
    let mut found = HashMap::new();
    for row in c
        .query(&statement, &[&app_ids, &event_ids])
        .await
        .map_err(backend)?
    {
        let message = message_from_row(&row)?;
        let key = (
            message.app_id.to_string(),
            message.event_id.clone().unwrap_or_default(),
        );
        found.insert(key, message);
    }
    Ok(found)
}

/// The batch's message rows, column by column, for one `unnest` insert.
#[derive(Default)]
struct MessageColumns {
    id: Vec<String>,
    app_id: Vec<String>,
    event_type: Vec<String>,
    event_id: Vec<Option<String>>,
    payload: Vec<String>,
    /// Each message's channels (and tags) as a JSON array: `unnest` cannot take an array of
    /// arrays of different lengths.
    channels: Vec<String>,
    tags: Vec<String>,
    deliver_at: Vec<Option<i64>>,
    created_at: Vec<i64>,
    content_type: Vec<Option<String>>,
    original_headers: Vec<Option<String>>,
}

impl MessageColumns {
    fn push(&mut self, new: &NewMessage) -> Result<(), StoreError> {
        let channels: Vec<&str> = new.channels.iter().map(ChannelName::as_str).collect();
        let json = |value: &Vec<&str>| {
            serde_json::to_string(value).map_err(|error| StoreError::Backend(Box::new(error)))
        };
        let tags: Vec<&str> = new.tags.iter().map(String::as_str).collect();
        self.id.push(new.id.to_string());
        self.app_id.push(new.app_id.to_string());
        self.event_type.push(new.event_type.as_str().to_owned());
        self.event_id.push(new.event_id.clone());
        self.payload.push(new.payload.as_str().to_owned());
        self.channels.push(json(&channels)?);
        self.tags.push(json(&tags)?);
        self.deliver_at.push(new.deliver_at.map(to_micros));
        self.created_at.push(to_micros(new.now));
        self.content_type
            .push(new.payload.content_type().map(str::to_owned));
        self.original_headers
            .push(original_headers_column(&new.payload)?);
        Ok(())
    }
}

/// The batch's delivery rows, for one `unnest` insert.
#[derive(Default)]
struct DeliveryRows {
    id: Vec<String>,
    app_id: Vec<String>,
    msg_id: Vec<String>,
    endpoint_id: Vec<String>,
    due_at: Vec<i64>,
}

impl DeliveryRows {
    /// Adds one delivery per endpoint of `targets` that receives `new`; answers how many.
    fn fan_out(
        &mut self,
        new: &NewMessage,
        targets: &[FanoutTarget],
        due_marks: &mut DueMarks,
    ) -> usize {
        let due_at = new.deliver_at.map_or(to_micros(new.now), to_micros);
        let payload = new.payload.filter_document();
        let before = self.id.len();
        for endpoint in targets.iter().filter(|endpoint| {
            new.recipients
                .include(endpoint, &new.event_type, &new.channels, &payload)
        }) {
            due_marks.mark(endpoint.id.as_str(), new.app_id.as_str(), due_at);
            self.id
                .push(DeliveryId::generate(new.now, rand::random()).to_string());
            self.app_id.push(new.app_id.to_string());
            self.msg_id.push(new.id.to_string());
            self.endpoint_id.push(endpoint.id.to_string());
            self.due_at.push(due_at);
        }
        self.id.len() - before
    }

    async fn insert(self, c: &impl GenericClient) -> Result<(), StoreError> {
        if self.id.is_empty() {
            return Ok(());
        }
        let statement = c
            .prepare_cached(
                "INSERT INTO delivery (id, app_id, msg_id, endpoint_id, status, trigger_type,
                 attempts_made, next_attempt_at)
                 SELECT id, app_id, msg_id, endpoint_id, 1, 0, 0, due_at
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                      AS fan_out(id, app_id, msg_id, endpoint_id, due_at)",
            )
            .await
            .map_err(backend)?;
        c.execute(
            &statement,
            &[
                &self.id,
                &self.app_id,
                &self.msg_id,
                &self.endpoint_id,
                &self.due_at,
            ],
        )
        .await
        .map_err(backend)?;
        Ok(())
    }
}
