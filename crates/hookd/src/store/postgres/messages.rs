//! SQL for messages on PostgreSQL: the durable write of a message with its fan-out (batched by
//! `writer`), and the filtered listings that the API serves.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::deliveries::DueMarks;
use super::rows::{Cursor, Parameters, corrupt, from_json, from_micros, to_micros};
use super::{PostgresStore, backend, get, missing_parent};
use crate::domain::{
    AppId, ChannelName, DeliveryId, EndpointId, EventTypeName, FanoutTarget, Message, MessageId,
};
use crate::store::parsed_filters::ParsedFilters;
use crate::store::stored::original_headers_column;
use crate::store::{
    MessageFilter, MessageInsert, MessageStore, NewMessage, Page, PageRequest, StoreError,
};

#[async_trait]
impl MessageStore for PostgresStore {
    async fn create_message(&self, message: NewMessage) -> Result<MessageInsert, StoreError> {
        let inserted = self.writer.write(message).await?;
        if let MessageInsert::Created { deliveries, .. } = &inserted {
            self.committed(*deliveries);
        }
        Ok(inserted)
    }

    async fn get_message(
        &self,
        app_id: &AppId,
        id_or_event_id: &str,
    ) -> Result<Option<Message>, StoreError> {
        let client = self.client().await?;
        let c = &client;
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

    async fn list_messages(
        &self,
        app_id: &AppId,
        filter: MessageFilter,
        page: PageRequest,
    ) -> Result<Page<Message>, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let filter = &filter;
        let page = &page;
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

    async fn list_fanout_targets(&self, app_id: &AppId) -> Result<Vec<FanoutTarget>, StoreError> {
        let client = self.client().await?;
        fanout_targets(&client, &self.filters, app_id).await
    }
}

pub(super) const MESSAGE_COLUMNS: &str = "id, app_id, event_type, event_id, payload, channels, tags, deliver_at, created_at, content_type";

pub(super) fn message_from_row(row: &Row) -> Result<Message, StoreError> {
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
        content_type: get(row, 9)?,
    })
}

/// Inserts the message and one pending delivery per endpoint in `endpoints` (the application's
/// endpoints, read inside the caller's transaction) among the message's recipients.
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
             deliver_at, created_at, content_type, original_headers)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
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
                &original_headers_column(&new.payload)?,
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
    let payload = new.payload.filter_document();
    let (delivery_ids, endpoint_ids): (Vec<String>, Vec<&str>) = endpoints
        .iter()
        .filter(|endpoint| {
            new.recipients
                .include(endpoint, &new.event_type, &new.channels, &payload)
        })
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
    let message = new.into_committed();
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

/// Adds the conditions on a message's event type, channels and tags (columns of `message`).
pub(super) fn message_conditions(
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
pub(super) fn time_conditions(
    parameters: &mut Parameters,
    filter_before_after: [Option<i64>; 2],
) -> String {
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

/// What fan-out needs of every endpoint of an application, read inside the message
/// transaction.
pub async fn fanout_targets(
    c: &impl GenericClient,
    filters: &ParsedFilters,
    app_id: &AppId,
) -> Result<Vec<FanoutTarget>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT id, disabled, event_types, channels, content_filter, url = 'polling:'
             FROM endpoint WHERE app_id = $1",
        )
        .await
        .map_err(backend)?;
    c.query(&statement, &[&app_id.as_str()])
        .await
        .map_err(backend)?
        .iter()
        .map(|row| fanout_target_from_row(filters, row))
        .collect()
}

/// A fan-out target from a row whose first six columns are those `fanout_targets` reads.
pub(super) fn fanout_target_from_row(
    filters: &ParsedFilters,
    row: &Row,
) -> Result<FanoutTarget, StoreError> {
    let event_types: Option<String> = get(row, 2)?;
    let channels: Option<String> = get(row, 3)?;
    let filter: Option<String> = get(row, 4)?;
    Ok(FanoutTarget {
        id: EndpointId::from_trusted(get::<String>(row, 0)?),
        disabled: get(row, 1)?,
        polling: get(row, 5)?,
        event_types: event_types.as_deref().map(from_json).transpose()?,
        channels: channels.as_deref().map(from_json).transpose()?,
        filter: filters.get(filter.as_deref())?,
    })
}
