//! SQL for idempotency keys on SQLite: reservations, stored answers, and their purge.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};

use super::rows::to_micros;
use super::{SqliteStore, backend};
use crate::domain::Timestamp;
use crate::store::sealing::Sealing;
use crate::store::{
    CreatedMessageAnswer, IDEMPOTENCY_IN_PROGRESS, IdempotencyStore, IdempotentResponse, KeyClaim,
    StoreError,
};

#[async_trait]
impl IdempotencyStore for SqliteStore {
    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_digest: &str,
        now: Timestamp,
        abandon_after: Duration,
        remember_for: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let (key, digest) = (key.to_owned(), request_digest.to_owned());
        let sealing = Arc::clone(&self.sealing);
        self.write(move |c| {
            claim_idempotency_key(c, &sealing, &key, &digest, now, abandon_after, remember_for)
        })
        .await
    }

    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        let key = key.to_owned();
        self.write(move |c| {
            let key = &key;
            c.prepare_cached("DELETE FROM idempotency WHERE key = ?1 AND status = ?2")
                .map_err(backend)?
                .execute(params![key, IDEMPOTENCY_IN_PROGRESS])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn put_idempotent_response(
        &self,
        key: &str,
        response: IdempotentResponse,
        created_message: Option<CreatedMessageAnswer>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let key = key.to_owned();
        let sealing = Arc::clone(&self.sealing);
        self.write(move |c| {
            let key = &key;
            let holds_secrets = response.holds_secrets;
            let stored_body =
                crate::store::body_to_store(&sealing, key, response.body, holds_secrets)?;
            // The single writer runs this whole job, so an expunge is wholly before or after it.
            let content_expunged = match &created_message {
                Some(created) => c
                    .prepare_cached("SELECT payload IS NULL FROM message WHERE id = ?1")
                    .map_err(backend)?
                    .query_row([created.msg_id.as_str()], |row| row.get::<_, bool>(0))
                    .optional()
                    .map_err(backend)?
                    .unwrap_or(false),
                None => false,
            };
            let (body, msg_id, expunged_body) =
                crate::store::answer_columns(stored_body, created_message, content_expunged);
            c.prepare_cached(
                "INSERT OR REPLACE INTO idempotency
             (key, request_digest, status, body, created_at, msg_id, expunged_body, holds_secrets)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .map_err(backend)?
            .execute(params![
                key,
                response.request_digest,
                response.status,
                body,
                to_micros(now),
                msg_id,
                expunged_body,
                holds_secrets
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn purge_idempotency_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Chosen on a reader so the writer only deletes rows by primary key.
        let keys = self
            .read(move |c| idempotency_keys_to_purge(c, cutoff, limit))
            .await?;
        if keys.is_empty() {
            return Ok(0);
        }
        self.write(move |c| purge_idempotency(c, &keys, cutoff))
            .await
    }
}

fn claim_idempotency_key(
    c: &Connection,
    sealing: &Sealing,
    key: &str,
    request_digest: &str,
    now: Timestamp,
    abandon_after: std::time::Duration,
    remember_for: std::time::Duration,
) -> Result<KeyClaim, StoreError> {
    let known = c
        .prepare_cached(
            "SELECT request_digest, status, body, created_at, holds_secrets
             FROM idempotency WHERE key = ?1",
        )
        .map_err(backend)?
        .query_row([key], |row| {
            Ok((
                IdempotentResponse {
                    request_digest: row.get(0)?,
                    status: row.get(1)?,
                    body: row.get(2)?,
                    holds_secrets: row.get(4)?,
                },
                row.get::<_, i64>(3)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    let abandoned_before =
        to_micros(now - chrono::Duration::from_std(abandon_after).unwrap_or_default());
    let forgotten_before = to_micros(
        now.checked_sub_signed(
            chrono::Duration::from_std(remember_for).unwrap_or(chrono::Duration::MAX),
        )
        .unwrap_or(Timestamp::MIN_UTC),
    );
    match known {
        Some((answer, answered_at))
            if answer.status != IDEMPOTENCY_IN_PROGRESS && answered_at >= forgotten_before =>
        {
            let body = crate::store::opened_body(sealing, key, answer.body, answer.holds_secrets)?;
            Ok(KeyClaim::Answered(IdempotentResponse { body, ..answer }))
        }
        Some((running, reserved_at))
            if running.status == IDEMPOTENCY_IN_PROGRESS && reserved_at > abandoned_before =>
        {
            Ok(KeyClaim::InProgress {
                request_digest: running.request_digest,
            })
        }
        // Unknown, abandoned, or answered longer ago than the window: run it as a new request.
        // Replacing the whole row also drops an old answer's link to its message.
        _ => {
            c.prepare_cached(
                "INSERT OR REPLACE INTO idempotency (key, request_digest, status, body, created_at)
                 VALUES (?1, ?2, ?3, x'', ?4)",
            )
            .map_err(backend)?
            .execute(params![
                key,
                request_digest,
                IDEMPOTENCY_IN_PROGRESS,
                to_micros(now)
            ])
            .map_err(backend)?;
            Ok(KeyClaim::Claimed)
        }
    }
}

/// Keys of at most `limit` idempotency records made before `cutoff`, for the retention sweep.
fn idempotency_keys_to_purge(
    c: &Connection,
    cutoff: Timestamp,
    limit: usize,
) -> Result<Vec<String>, StoreError> {
    c.prepare_cached("SELECT key FROM idempotency WHERE created_at < ?1 LIMIT ?2")
        .map_err(backend)?
        .query_map(
            params![to_micros(cutoff), i64::try_from(limit).unwrap_or(i64::MAX)],
            |row| row.get(0),
        )
        .map_err(backend)?
        .collect::<Result<Vec<String>, _>>()
        .map_err(backend)
}

/// Deletes the records by key, each only if still older than `cutoff`: a key claimed again
/// since it was picked is a new record and stays.
fn purge_idempotency(
    c: &Connection,
    keys: &[String],
    cutoff: Timestamp,
) -> Result<usize, StoreError> {
    let mut delete = c
        .prepare_cached("DELETE FROM idempotency WHERE key = ?1 AND created_at < ?2")
        .map_err(backend)?;
    let mut purged = 0;
    for key in keys {
        purged += delete
            .execute(params![key, to_micros(cutoff)])
            .map_err(backend)?;
    }
    Ok(purged)
}

/// Swaps in the answers' content-free form for the answers that created `msg_id`.
pub fn expunge_idempotent_answers(c: &Connection, msg_id: &str) -> Result<(), StoreError> {
    c.prepare_cached(
        "UPDATE idempotency SET body = expunged_body, expunged_body = NULL
         WHERE msg_id = ?1 AND expunged_body IS NOT NULL",
    )
    .map_err(backend)?
    .execute([msg_id])
    .map_err(backend)?;
    Ok(())
}
