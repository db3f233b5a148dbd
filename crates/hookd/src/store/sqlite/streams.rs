//! SQL for event streams on SQLite: messages in the order the single writer committed them
//! (`stream_seq`, see `store::streams`).

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::messages::{MESSAGE_COLUMNS, message_from_row};
use super::{SqliteStore, backend};
use crate::domain::{AppId, MessageId};
use crate::store::{StoreError, StreamPosition, StreamRead, StreamStore};

#[async_trait]
impl StreamStore for SqliteStore {
    async fn stream_position(
        &self,
        app_id: &AppId,
        message_id: &MessageId,
    ) -> Result<Option<StreamPosition>, StoreError> {
        let (app_id, message_id) = (app_id.clone(), message_id.clone());
        self.read(move |c| {
            c.prepare_cached("SELECT stream_seq FROM message WHERE app_id = ?1 AND id = ?2")
                .map_err(backend)?
                .query_row([app_id.as_str(), message_id.as_str()], |row| row.get(0))
                .optional()
                .map_err(backend)
                .map(|commit| {
                    commit.map(|commit| StreamPosition {
                        commit,
                        message_id: message_id.to_string(),
                    })
                })
        })
        .await
    }

    async fn stream_head(&self, app_id: &AppId) -> Result<StreamPosition, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| {
            let newest = c
                .prepare_cached(
                    "SELECT stream_seq, id FROM message WHERE app_id = ?1
                     ORDER BY stream_seq DESC, id DESC LIMIT 1",
                )
                .map_err(backend)?
                .query_row([app_id.as_str()], |row| {
                    Ok(StreamPosition {
                        commit: row.get(0)?,
                        message_id: row.get(1)?,
                    })
                })
                .optional()
                .map_err(backend)?;
            Ok(newest.unwrap_or(StreamPosition {
                commit: 0,
                message_id: String::new(),
            }))
        })
        .await
    }

    async fn read_stream(
        &self,
        app_id: &AppId,
        after: &StreamPosition,
        limit: usize,
    ) -> Result<StreamRead, StoreError> {
        let (app_id, after) = (app_id.clone(), after.clone());
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |c| {
            let mut statement = c
                .prepare_cached(&format!(
                    "SELECT {MESSAGE_COLUMNS}, stream_seq FROM message
                     WHERE app_id = ?1 AND (stream_seq, id) > (?2, ?3)
                     ORDER BY stream_seq, id LIMIT ?4"
                ))
                .map_err(backend)?;
            let messages = statement
                .query_map(
                    params![app_id.as_str(), after.commit, after.message_id, limit],
                    |row| {
                        let commit: i64 = row.get(10)?;
                        Ok(message_from_row(row)?.map(|message| {
                            let position = StreamPosition {
                                commit,
                                message_id: message.id.to_string(),
                            };
                            (position, message)
                        }))
                    },
                )
                .map_err(backend)?
                .map(|row| row.map_err(backend)?)
                .collect::<Result<Vec<_>, _>>()?;
            // One writer commits in order: nothing is ever held back.
            Ok(StreamRead {
                messages,
                held_back: false,
            })
        })
        .await
    }
}
