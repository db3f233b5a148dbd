//! SQL for messages on SQLite: the durable write of a message with its fan-out, and the filtered
//! listings that the API serves.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, params, params_from_iter};

use std::sync::Arc;

use super::deliveries::mark_due;
use super::rows::{Cursor, corrupt, from_json, from_micros, to_json, to_micros};
use super::{SqliteStore, backend, missing_parent};
use crate::domain::{
    AppId, ChannelName, DeliveryId, EndpointId, EventTypeName, FanoutTarget, Message, MessageId,
};
use crate::store::parsed_filters::ParsedFilters;
use crate::store::stored::original_headers_column;
use crate::store::{
    MessageFilter, MessageInsert, MessageStore, NewMessage, Page, PageRequest, StoreError,
};

#[async_trait]
impl MessageStore for SqliteStore {
    async fn create_message(&self, message: NewMessage) -> Result<MessageInsert, StoreError> {
        let filters = Arc::clone(&self.filters);
        self.write_adding(move |c| {
            let inserted = insert_message(c, &filters, message)?;
            let added = match &inserted {
                MessageInsert::Created { deliveries, .. } => *deliveries,
                MessageInsert::Duplicate(_) => 0,
            };
            Ok((inserted, added))
        })
        .await
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id_or_event_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let (app_id, id) = (app_id.clone(), id_or_event_id.to_owned());
        self.read(move |c| {
            let app_id = &app_id;
            let id_or_event_id = &id;
            c.prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = ?1 AND id = ?2
         UNION ALL SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = ?1 AND event_id = ?2
         LIMIT 1"
            ))
            .map_err(backend)?
            .query_row([app_id.as_str(), id_or_event_id], message_from_row)
            .optional()
            .map_err(backend)?
            .transpose()
        })
        .await
    }

    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| {
            let app_id = &app_id;
            let filter = &filter;
            let page = &page;
            let mut conditions = Conditions::default();
            conditions.add("app_id = ?", [Value::Text(app_id.to_string())]);
            add_message_conditions(
                &mut conditions,
                filter.event_types.as_ref(),
                filter.channel.as_ref(),
                filter.tag.as_ref(),
            );
            conditions.created_between(filter.before, filter.after);
            let cursor = Cursor::new("id", page);
            let sql = format!(
                "SELECT {MESSAGE_COLUMNS} FROM message WHERE 1 = 1 {} {} {} LIMIT {}",
                conditions.sql, cursor.condition, cursor.order_by, cursor.fetch
            );
            let parameters = conditions
                .parameters
                .into_iter()
                .chain(cursor.parameter.clone());
            let mut statement = c.prepare(&sql).map_err(backend)?;
            let rows = statement
                .query_map(params_from_iter(parameters), message_from_row)
                .map_err(backend)?
                .map(|row| row.map_err(backend)?)
                .collect::<Result<Vec<_>, _>>()?;
            Ok(cursor.page(rows, |message| message.id.to_string()))
        })
        .await
    }

    async fn list_fanout_targets(&self, app_id: &AppId) -> Result<Vec<FanoutTarget>, StoreError> {
        let app_id = app_id.clone();
        let filters = Arc::clone(&self.filters);
        self.read(move |c| fanout_targets(c, &filters, &app_id))
            .await
    }
}

pub(super) const MESSAGE_COLUMNS: &str = "id, app_id, event_type, event_id, payload, channels, tags, deliver_at, created_at, content_type";

pub(super) fn message_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Message, StoreError>> {
    let id: String = row.get(0)?;
    let app_id: String = row.get(1)?;
    let event_type: String = row.get(2)?;
    let channels: String = row.get(5)?;
    let tags: String = row.get(6)?;
    Ok((|| {
        Ok(Message {
            id: MessageId::from_trusted(id),
            app_id: AppId::from_trusted(app_id),
            event_type: EventTypeName::parse(&event_type).map_err(corrupt)?,
            event_id: row.get(3).map_err(backend)?,
            payload: row.get(4).map_err(backend)?,
            channels: from_json(&channels)?,
            tags: from_json(&tags)?,
            deliver_at: row
                .get::<_, Option<i64>>(7)
                .map_err(backend)?
                .map(from_micros),
            created_at: from_micros(row.get(8).map_err(backend)?),
            content_type: row.get(9).map_err(backend)?,
        })
    })())
}

/// Inserts the message and one pending delivery per endpoint among its recipients, inside the caller's
/// transaction, so the fan-out sees exactly the endpoints that exist at commit time.
pub fn insert_message(
    c: &Connection,
    filters: &ParsedFilters,
    new: NewMessage,
) -> Result<MessageInsert, StoreError> {
    if let Some(event_id) = &new.event_id
        && let Some(existing) = find_by_event_id(c, &new.app_id, event_id)?
    {
        return Ok(MessageInsert::Duplicate(existing));
    }
    let created_at = to_micros(new.now);
    c.prepare_cached(
        // stream_seq: this is the single writer's transaction, so one more than the
        // application's highest is commit order (store/streams.rs).
        "INSERT INTO message (id, app_id, event_type, event_id, payload, channels, tags,
         deliver_at, created_at, content_type, original_headers, stream_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11,
                 (SELECT COALESCE(MAX(stream_seq), 0) + 1 FROM message WHERE app_id = ?2))",
    )
    .map_err(backend)?
    .execute(params![
        new.id.as_str(),
        new.app_id.as_str(),
        new.event_type.as_str(),
        new.event_id,
        new.payload.as_str(),
        to_json(&new.channels)?,
        to_json(&new.tags)?,
        new.deliver_at.map(to_micros),
        created_at,
        new.payload.content_type(),
        original_headers_column(&new.payload)?,
    ])
    .map_err(missing_parent("application not found"))?;

    let mut insert_delivery = c
        .prepare_cached(
            "INSERT INTO delivery (id, app_id, msg_id, endpoint_id, status, trigger_type,
             attempts_made, next_attempt_at, lease_token) VALUES (?1, ?2, ?3, ?4, 1, 0, 0, ?5, NULL)",
        )
        .map_err(backend)?;
    let due_at = new.deliver_at.map_or(created_at, to_micros);
    let mut deliveries = 0;
    let payload = new.payload.filter_document();
    for endpoint in fanout_targets(c, filters, &new.app_id)? {
        if !new
            .recipients
            .include(&endpoint, &new.event_type, &new.channels, &payload)
        {
            continue;
        }
        let delivery_id = DeliveryId::generate(new.now, rand::random());
        insert_delivery
            .execute(params![
                delivery_id.as_str(),
                new.app_id.as_str(),
                new.id.as_str(),
                endpoint.id.as_str(),
                due_at,
            ])
            .map_err(backend)?;
        mark_due(c, endpoint.id.as_str(), new.app_id.as_str(), due_at)?;
        deliveries += 1;
    }
    let message = new.into_committed();
    Ok(MessageInsert::Created {
        message,
        deliveries,
    })
}

fn find_by_event_id(
    c: &Connection,
    app_id: &AppId,
    event_id: &str,
) -> Result<Option<Message>, StoreError> {
    c.prepare_cached(&format!(
        "SELECT {MESSAGE_COLUMNS} FROM message WHERE app_id = ?1 AND event_id = ?2"
    ))
    .map_err(backend)?
    .query_row([app_id.as_str(), event_id], message_from_row)
    .optional()
    .map_err(backend)?
    .transpose()
}

/// Filter clauses and their parameters, built up in order.
#[derive(Default)]
pub(super) struct Conditions {
    pub(super) sql: String,
    pub(super) parameters: Vec<Value>,
}

impl Conditions {
    pub(super) fn add(&mut self, clause: &str, values: impl IntoIterator<Item = Value>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(clause);
        self.parameters.extend(values);
    }

    /// `created_at` strictly inside the listing's `before`/`after` bounds (either may be open).
    pub(super) fn created_between(
        &mut self,
        before: Option<crate::domain::Timestamp>,
        after: Option<crate::domain::Timestamp>,
    ) {
        if let Some(before) = before {
            self.add("created_at < ?", [Value::Integer(to_micros(before))]);
        }
        if let Some(after) = after {
            self.add("created_at > ?", [Value::Integer(to_micros(after))]);
        }
    }
}

/// Adds the conditions on a message's event type, channels and tags (columns of `message`).
pub(super) fn add_message_conditions(
    conditions: &mut Conditions,
    event_types: Option<&Vec<EventTypeName>>,
    channel: Option<&ChannelName>,
    tag: Option<&String>,
) {
    if let Some(event_types) = event_types
        && !event_types.is_empty()
    {
        let placeholders = vec!["?"; event_types.len()].join(", ");
        conditions.add(
            &format!("message.event_type IN ({placeholders})"),
            event_types
                .iter()
                .map(|name| Value::Text(name.as_str().to_owned())),
        );
    }
    if let Some(channel) = channel {
        conditions.add(
            "EXISTS (SELECT 1 FROM json_each(message.channels) WHERE json_each.value = ?)",
            [Value::Text(channel.as_str().to_owned())],
        );
    }
    if let Some(tag) = tag {
        conditions.add(
            "EXISTS (SELECT 1 FROM json_each(message.tags) WHERE json_each.value = ?)",
            [Value::Text(tag.clone())],
        );
    }
}

/// What fan-out needs of every endpoint of an application, read inside the message
/// transaction.
fn fanout_targets(
    c: &Connection,
    filters: &ParsedFilters,
    app_id: &AppId,
) -> Result<Vec<FanoutTarget>, StoreError> {
    let mut statement = c
        .prepare_cached(
            "SELECT id, disabled, event_types, channels, content_filter, url = 'polling:'
             FROM endpoint WHERE app_id = ?1",
        )
        .map_err(backend)?;
    let rows = statement
        .query_map([app_id.as_str()], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, Option<String>>(2)?,
                row.get::<_, Option<String>>(3)?,
                row.get::<_, Option<String>>(4)?,
                row.get::<_, bool>(5)?,
            ))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(id, disabled, event_types, channels, filter, polling)| {
            Ok(FanoutTarget {
                id: EndpointId::from_trusted(id),
                disabled,
                polling,
                event_types: event_types.as_deref().map(from_json).transpose()?,
                channels: channels.as_deref().map(from_json).transpose()?,
                filter: filters.get(filter.as_deref())?,
            })
        })
        .collect()
}
