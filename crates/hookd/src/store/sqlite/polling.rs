//! SQL for polling endpoints' consumers on SQLite (`store::polling`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::rows::to_micros;
use super::{SqliteStore, backend, missing_parent};
use crate::domain::{AppId, EndpointId, Timestamp};
use crate::store::{ConsumerSave, PollingStore, StoreError, StreamPosition, StreamStore};

/// The consumer's committed position, read inside a job.
fn consumer_position(
    c: &rusqlite::Connection,
    endpoint_id: &str,
    consumer_id: &str,
) -> Result<Option<StreamPosition>, StoreError> {
    c.prepare_cached(
        "SELECT position_commit, position_message_id FROM poller_consumer
         WHERE endpoint_id = ?1 AND consumer_id = ?2",
    )
    .map_err(backend)?
    .query_row([endpoint_id, consumer_id], |row| {
        Ok(StreamPosition {
            commit: row.get(0)?,
            message_id: row.get(1)?,
        })
    })
    .optional()
    .map_err(backend)
}

#[async_trait]
impl PollingStore for SqliteStore {
    async fn poller_consumer_position(
        &self,
        endpoint_id: &EndpointId,
        consumer_id: &str,
    ) -> Result<Option<StreamPosition>, StoreError> {
        let (endpoint_id, consumer_id) = (endpoint_id.clone(), consumer_id.to_owned());
        self.read(move |c| consumer_position(c, endpoint_id.as_str(), &consumer_id))
            .await
    }

    async fn save_poller_consumer_position(
        &self,
        endpoint_id: &EndpointId,
        consumer_id: &str,
        position: &StreamPosition,
        rewind: bool,
        now: Timestamp,
    ) -> Result<ConsumerSave, StoreError> {
        let (endpoint_id, consumer_id) = (endpoint_id.clone(), consumer_id.to_owned());
        let position = position.clone();
        self.write(move |c| {
            // One writer job: the comparison and the write see the same row.
            let changed = c
                .prepare_cached(
                    "INSERT INTO poller_consumer (endpoint_id, consumer_id, position_commit,
                     position_message_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (endpoint_id, consumer_id) DO UPDATE SET
                         position_commit = excluded.position_commit,
                         position_message_id = excluded.position_message_id,
                         updated_at = excluded.updated_at
                     WHERE ?6 OR (poller_consumer.position_commit, poller_consumer.position_message_id)
                                 <= (excluded.position_commit, excluded.position_message_id)",
                )
                .map_err(backend)?
                .execute(params![
                    endpoint_id.as_str(),
                    consumer_id,
                    position.commit,
                    position.message_id,
                    to_micros(now),
                    rewind,
                ])
                .map_err(missing_parent("endpoint not found"))?;
            if changed > 0 {
                return Ok(ConsumerSave::Saved);
            }
            let current = consumer_position(c, endpoint_id.as_str(), &consumer_id)?;
            Ok(current.map_or(ConsumerSave::Saved, ConsumerSave::Behind))
        })
        .await
    }

    async fn stream_position_at(
        &self,
        app_id: &AppId,
        after: Timestamp,
    ) -> Result<StreamPosition, StoreError> {
        let key = app_id.clone();
        let first = self
            .read(move |c| {
                c.prepare_cached(
                    "SELECT stream_seq FROM message WHERE app_id = ?1 AND created_at > ?2
                     ORDER BY stream_seq, id LIMIT 1",
                )
                .map_err(backend)?
                .query_row(params![key.as_str(), to_micros(after)], |row| row.get(0))
                .optional()
                .map_err(backend)
            })
            .await?;
        match first {
            // An empty message id stands before every message of its commit.
            Some(commit) => Ok(StreamPosition {
                commit,
                message_id: String::new(),
            }),
            None => self.stream_head(app_id).await,
        }
    }
}
