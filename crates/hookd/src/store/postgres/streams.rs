//! SQL for event streams on PostgreSQL: messages in commit order (`writer_xid`, see
//! `store::streams`), read only below the horizon `pg_snapshot_xmin`, the oldest transaction
//! still in progress. A transaction below it has ended, so a row read below it can have no
//! row committed before it that is not yet visible; a transaction still writing (or one not
//! begun) gets an id at or above the horizon, past every position read so far. The cost is a
//! delay, never a skip: while any transaction in the cluster stays open, rows written after
//! it began wait for it (`StreamRead::held_back` tells the stream to look again soon).

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::messages::{MESSAGE_COLUMNS, message_from_row};
use super::{PostgresStore, backend, get};
use crate::domain::{AppId, MessageId};
use crate::store::{StoreError, StreamPosition, StreamRead, StreamStore};

/// The oldest transaction id still in progress, as the bigint `writer_xid` holds.
const HORIZON: &str = "pg_snapshot_xmin(pg_current_snapshot())::text::bigint";

#[async_trait]
impl StreamStore for PostgresStore {
    async fn stream_position(
        &self,
        app_id: &AppId,
        message_id: &MessageId,
    ) -> Result<Option<StreamPosition>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("SELECT writer_xid FROM message WHERE app_id = $1 AND id = $2")
            .await
            .map_err(backend)?;
        let row = client
            .query_opt(&statement, &[&app_id.as_str(), &message_id.as_str()])
            .await
            .map_err(backend)?;
        row.map(|row| {
            Ok(StreamPosition {
                commit: get(&row, 0)?,
                message_id: message_id.to_string(),
            })
        })
        .transpose()
    }

    async fn stream_head(&self, _app_id: &AppId) -> Result<StreamPosition, StoreError> {
        // Before the horizon, not after the newest row: a transaction below the newest row's
        // id may still be writing one of this application's messages.
        let client = self.client().await?;
        let row = client
            .query_one(&format!("SELECT {HORIZON}"), &[])
            .await
            .map_err(backend)?;
        Ok(StreamPosition {
            commit: get(&row, 0)?,
            message_id: String::new(),
        })
    }

    async fn read_stream(
        &self,
        app_id: &AppId,
        after: &StreamPosition,
        limit: usize,
    ) -> Result<StreamRead, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let read = c
            .prepare_cached(&format!(
                "SELECT {MESSAGE_COLUMNS}, writer_xid FROM message
                 WHERE app_id = $1 AND (writer_xid, id) > ($2, $3) AND writer_xid < {HORIZON}
                 ORDER BY writer_xid, id LIMIT $4"
            ))
            .await
            .map_err(backend)?;
        let fetch = i64::try_from(limit).unwrap_or(i64::MAX);
        let messages = c
            .query(
                &read,
                &[&app_id.as_str(), &after.commit, &after.message_id, &fetch],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|row| {
                let message = message_from_row(row)?;
                let position = StreamPosition {
                    commit: get(row, 10)?,
                    message_id: message.id.to_string(),
                };
                Ok((position, message))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        if messages.len() == limit {
            return Ok(StreamRead {
                messages,
                held_back: false,
            });
        }
        let last = messages.last().map_or(after, |(position, _)| position);
        let waiting = c
            .prepare_cached(&format!(
                "SELECT EXISTS (SELECT 1 FROM message
                 WHERE app_id = $1 AND (writer_xid, id) > ($2, $3) AND writer_xid >= {HORIZON})"
            ))
            .await
            .map_err(backend)?;
        let held_back = c
            .query_one(
                &waiting,
                &[&app_id.as_str(), &last.commit, &last.message_id],
            )
            .await
            .map_err(backend)?;
        Ok(StreamRead {
            messages,
            held_back: get(&held_back, 0)?,
        })
    }
}
