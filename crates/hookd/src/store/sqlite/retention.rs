//! SQL for content removal on SQLite: expunging a message's payload (one, or several by id or
//! uid) and an attempt's response body, and the retention purges.
//! The purges pick their rows on a read connection and then update them by primary key, so the
//! single writer never scans the message or attempt table.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::idempotency::expunge_idempotent_answers;
use super::rows::to_micros;
use super::{SqliteStore, backend};
use crate::domain::{AppId, AttemptId, MessageId, Timestamp};
use crate::store::{RetentionStore, StoreError};

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn expunge_message_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
    ) -> Result<bool, StoreError> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.write(move |c| expunge_named_message(c, &app_id, msg_id.as_str()))
            .await
    }

    async fn expunge_message_contents(
        &self,
        app_id: &AppId,
        names: Vec<String>,
    ) -> Result<Vec<bool>, StoreError> {
        let app_id = app_id.clone();
        self.write(move |c| {
            names
                .iter()
                .map(|name| expunge_named_message(c, &app_id, name))
                .collect()
        })
        .await
    }

    async fn expunge_attempt_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        attempt_id: &AttemptId,
    ) -> Result<bool, StoreError> {
        let (app_id, msg_id, attempt_id) = (app_id.clone(), msg_id.clone(), attempt_id.clone());
        self.write(move |c| {
            let changed = c
                .prepare_cached(
                    "UPDATE attempt SET response = '' WHERE app_id = ?1 AND msg_id = ?2 AND id = ?3",
                )
                .map_err(backend)?
                .execute([app_id.as_str(), msg_id.as_str(), attempt_id.as_str()])
                .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn purge_payloads_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Chosen on a reader so the writer only updates rows by primary key.
        let ids = self
            .read(move |c| messages_to_purge(c, cutoff, limit))
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.write(move |c| purge_payloads(c, &ids)).await
    }

    async fn purge_attempt_bodies_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let ids = self
            .read(move |c| attempts_to_purge(c, cutoff, limit))
            .await?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.write(move |c| purge_attempt_bodies(c, &ids)).await
    }
}

/// Removes the payload of the application's message `name` (its id, else its uid) and from
/// the idempotent answer that created it; whether there is such a message.
pub(super) fn expunge_named_message(
    c: &Connection,
    app_id: &AppId,
    name: &str,
) -> Result<bool, StoreError> {
    let msg_id: Option<String> = c
        .prepare_cached(
            "UPDATE message SET payload = NULL WHERE app_id = ?1 AND id = ?2 RETURNING id",
        )
        .map_err(backend)?
        .query_row([app_id.as_str(), name], |row| row.get(0))
        .optional()
        .map_err(backend)?;
    let msg_id = match msg_id {
        Some(id) => Some(id),
        None => c
            .prepare_cached(
                "UPDATE message SET payload = NULL WHERE app_id = ?1 AND event_id = ?2 RETURNING id",
            )
            .map_err(backend)?
            .query_row([app_id.as_str(), name], |row| row.get(0))
            .optional()
            .map_err(backend)?,
    };
    match msg_id {
        Some(id) => {
            expunge_idempotent_answers(c, &id)?;
            Ok(true)
        }
        None => Ok(false),
    }
}

/// Messages whose payload the retention purge may remove: older than `cutoff`, with content,
/// and with nothing still waiting to be delivered.
fn messages_to_purge(
    c: &Connection,
    cutoff: Timestamp,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    ids(
        c,
        "SELECT id FROM message WHERE created_at < ?1 AND payload IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.msg_id = message.id
                         AND delivery.status = 1)
         LIMIT ?2",
        cutoff,
        limit,
    )
}

fn purge_payloads(c: &Connection, msg_ids: &[String]) -> Result<usize, StoreError> {
    let mut update = c
        .prepare_cached(
            "UPDATE message SET payload = NULL WHERE id = ?1 AND payload IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.msg_id = message.id
                             AND delivery.status = 1)",
        )
        .map_err(backend)?;
    let mut purged = 0;
    for id in msg_ids {
        let changed = update.execute([id]).map_err(backend)?;
        if changed > 0 {
            expunge_idempotent_answers(c, id)?;
        }
        purged += changed;
    }
    Ok(purged)
}

fn attempts_to_purge(
    c: &Connection,
    cutoff: Timestamp,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    ids(
        c,
        "SELECT id FROM attempt WHERE created_at < ?1 AND response <> '' LIMIT ?2",
        cutoff,
        limit,
    )
}

fn purge_attempt_bodies(c: &Connection, attempt_ids: &[String]) -> Result<usize, StoreError> {
    let mut update = c
        .prepare_cached("UPDATE attempt SET response = '' WHERE id = ?1 AND response <> ''")
        .map_err(backend)?;
    let mut purged = 0;
    for id in attempt_ids {
        purged += update.execute([id]).map_err(backend)?;
    }
    Ok(purged)
}

fn ids(
    c: &Connection,
    sql: &str,
    cutoff: Timestamp,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    c.prepare_cached(sql)
        .map_err(backend)?
        .query_map(params![to_micros(cutoff), limit], |row| row.get(0))
        .map_err(backend)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(backend)
}
