//! SQL for polling endpoints' consumers on PostgreSQL (`store::polling`).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::to_micros;
use super::{PostgresStore, backend, get, missing_parent};
use crate::domain::{AppId, EndpointId, Timestamp};
use crate::store::{ConsumerSave, PollingStore, StoreError, StreamPosition, StreamStore};

async fn consumer_position(
    c: &impl GenericClient,
    endpoint_id: &EndpointId,
    consumer_id: &str,
) -> Result<Option<StreamPosition>, StoreError> {
    let statement = c
        .prepare_cached(
            "SELECT position_commit, position_message_id FROM poller_consumer
             WHERE endpoint_id = $1 AND consumer_id = $2",
        )
        .await
        .map_err(backend)?;
    let row = c
        .query_opt(&statement, &[&endpoint_id.as_str(), &consumer_id])
        .await
        .map_err(backend)?;
    row.map(|row| {
        Ok(StreamPosition {
            commit: get(&row, 0)?,
            message_id: get(&row, 1)?,
        })
    })
    .transpose()
}

#[async_trait]
impl PollingStore for PostgresStore {
    async fn poller_consumer_position(
        &self,
        endpoint_id: &EndpointId,
        consumer_id: &str,
    ) -> Result<Option<StreamPosition>, StoreError> {
        let client = self.client().await?;
        consumer_position(&client, endpoint_id, consumer_id).await
    }

    async fn save_poller_consumer_position(
        &self,
        endpoint_id: &EndpointId,
        consumer_id: &str,
        position: &StreamPosition,
        rewind: bool,
        now: Timestamp,
    ) -> Result<ConsumerSave, StoreError> {
        let client = self.client().await?;
        // The upsert takes the row's lock, so two nodes saving one consumer at once are
        // ordered and the later position wins (unless rewinding).
        let statement = client
            .prepare_cached(
                "INSERT INTO poller_consumer (endpoint_id, consumer_id, position_commit,
                 position_message_id, updated_at) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET
                     position_commit = excluded.position_commit,
                     position_message_id = excluded.position_message_id,
                     updated_at = excluded.updated_at
                 WHERE $6 OR (poller_consumer.position_commit, poller_consumer.position_message_id)
                             <= (excluded.position_commit, excluded.position_message_id)",
            )
            .await
            .map_err(backend)?;
        let changed = client
            .execute(
                &statement,
                &[
                    &endpoint_id.as_str(),
                    &consumer_id,
                    &position.commit,
                    &position.message_id,
                    &to_micros(now),
                    &rewind,
                ],
            )
            .await
            .map_err(missing_parent("endpoint not found"))?;
        if changed > 0 {
            return Ok(ConsumerSave::Saved);
        }
        let current = consumer_position(&client, endpoint_id, consumer_id).await?;
        Ok(current.map_or(ConsumerSave::Saved, ConsumerSave::Behind))
    }

    async fn stream_position_at(
        &self,
        app_id: &AppId,
        after: Timestamp,
    ) -> Result<StreamPosition, StoreError> {
        let first = {
            let client = self.client().await?;
            let statement = client
                .prepare_cached(
                    "SELECT writer_xid FROM message WHERE app_id = $1 AND created_at > $2
                     ORDER BY writer_xid, id LIMIT 1",
                )
                .await
                .map_err(backend)?;
            let row = client
                .query_opt(&statement, &[&app_id.as_str(), &to_micros(after)])
                .await
                .map_err(backend)?;
            row.map(|row| get::<i64>(&row, 0)).transpose()?
        };
        // Never past the horizon: a transaction still in progress may yet commit a message
        // created after `after`, and it will stand at or above the horizon.
        let head = self.stream_head(app_id).await?;
        Ok(match first {
            // An empty message id stands before every message of its commit.
            Some(commit) => head.min(StreamPosition {
                commit,
                message_id: String::new(),
            }),
            None => head,
        })
    }
}
