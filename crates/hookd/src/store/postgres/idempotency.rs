//! SQL for idempotency keys on PostgreSQL: reservations, stored answers, and their purge.

use std::time::Duration;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::to_micros;
use super::{PostgresStore, backend, get};
use crate::domain::Timestamp;
use crate::store::sealing::Sealing;
use crate::store::{
    CreatedMessageAnswer, IDEMPOTENCY_IN_PROGRESS, IdempotencyStore, IdempotentResponse, KeyClaim,
    StoreError,
};

#[async_trait]
impl IdempotencyStore for PostgresStore {
    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_digest: &str,
        now: Timestamp,
        abandon_after: Duration,
        remember_for: Duration,
    ) -> Result<KeyClaim, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let claim = claim_idempotency_key(
            &transaction,
            &self.sealing,
            key,
            request_digest,
            now,
            abandon_after,
            remember_for,
        )
        .await?;
        transaction.commit().await.map_err(backend)?;
        Ok(claim)
    }

    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached("DELETE FROM idempotency WHERE key = $1 AND status = $2")
            .await
            .map_err(backend)?;
        c.execute(&statement, &[&key, &i32::from(IDEMPOTENCY_IN_PROGRESS)])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn put_idempotent_response(
        &self,
        key: &str,
        response: IdempotentResponse,
        created_message: Option<CreatedMessageAnswer>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        put_idempotent_response(
            &transaction,
            &self.sealing,
            key,
            response,
            created_message,
            now,
        )
        .await?;
        transaction.commit().await.map_err(backend)
    }

    async fn purge_idempotency_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Skips rows another node holds.
        let client = self.client().await?;
        let c = &client;
        let statement = c
            .prepare_cached(
                "DELETE FROM idempotency WHERE key IN (
                 SELECT key FROM idempotency WHERE created_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await
            .map_err(backend)?;
        let purged = c
            .execute(
                &statement,
                &[
                    &to_micros(cutoff),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }
}

/// Runs in the caller's transaction. Inserting first (doing nothing on conflict) and then
/// reading the row under `FOR UPDATE` means two nodes racing on one key serialize on that row.
async fn claim_idempotency_key(
    c: &impl GenericClient,
    sealing: &Sealing,
    key: &str,
    request_digest: &str,
    now: Timestamp,
    abandon_after: std::time::Duration,
    remember_for: std::time::Duration,
) -> Result<KeyClaim, StoreError> {
    let reserve = c
        .prepare_cached(
            "INSERT INTO idempotency (key, request_digest, status, body, created_at)
             VALUES ($1, $2, $3, ''::bytea, $4) ON CONFLICT (key) DO NOTHING RETURNING key",
        )
        .await
        .map_err(backend)?;
    let in_progress = i32::from(IDEMPOTENCY_IN_PROGRESS);
    let now_micros = to_micros(now);
    let known = c
        .prepare_cached(
            "SELECT request_digest, status, body, created_at, holds_secrets FROM idempotency
             WHERE key = $1 FOR UPDATE",
        )
        .await
        .map_err(backend)?;
    // The row that made the reservation conflict can be deleted (by the retention purge)
    // before it is read; then the key is free again and the reservation is tried once more.
    let mut existing = None;
    for _ in 0..3 {
        let inserted = c
            .query_opt(
                &reserve,
                &[&key, &request_digest, &in_progress, &now_micros],
            )
            .await
            .map_err(backend)?;
        if inserted.is_some() {
            return Ok(KeyClaim::Claimed);
        }
        existing = c.query_opt(&known, &[&key]).await.map_err(backend)?;
        if existing.is_some() {
            break;
        }
    }
    let Some(row) = existing else {
        return Err(StoreError::Conflict(
            "this Idempotency-Key is being claimed and purged at once; retry the request".into(),
        ));
    };
    let answer = IdempotentResponse {
        request_digest: get(&row, 0)?,
        status: u16::try_from(get::<i32>(&row, 1)?).unwrap_or(500),
        body: get(&row, 2)?,
        holds_secrets: get(&row, 4)?,
    };
    let recorded_at = get::<i64>(&row, 3)?;
    let forgotten_before = to_micros(
        now.checked_sub_signed(
            chrono::Duration::from_std(remember_for).unwrap_or(chrono::Duration::MAX),
        )
        .unwrap_or(Timestamp::MIN_UTC),
    );
    if answer.status != IDEMPOTENCY_IN_PROGRESS && recorded_at >= forgotten_before {
        let body = crate::store::opened_body(sealing, key, answer.body, answer.holds_secrets)?;
        return Ok(KeyClaim::Answered(IdempotentResponse { body, ..answer }));
    }
    let abandoned_before =
        to_micros(now - chrono::Duration::from_std(abandon_after).unwrap_or_default());
    if answer.status == IDEMPOTENCY_IN_PROGRESS && recorded_at > abandoned_before {
        return Ok(KeyClaim::InProgress {
            request_digest: answer.request_digest,
        });
    }
    // Abandoned, or answered longer ago than the window: a new reservation, with no old answer
    // or link to its message left behind.
    let take_over = c
        .prepare_cached(
            "UPDATE idempotency SET request_digest = $2, created_at = $3, status = $4,
             body = ''::bytea, msg_id = NULL, expunged_body = NULL, holds_secrets = FALSE
             WHERE key = $1",
        )
        .await
        .map_err(backend)?;
    c.execute(
        &take_over,
        &[&key, &request_digest, &now_micros, &in_progress],
    )
    .await
    .map_err(backend)?;
    Ok(KeyClaim::Claimed)
}

pub async fn put_idempotent_response(
    c: &impl GenericClient,
    sealing: &Sealing,
    key: &str,
    response: IdempotentResponse,
    created_message: Option<CreatedMessageAnswer>,
    now: Timestamp,
) -> Result<(), StoreError> {
    let statement = c
        .prepare_cached(
            "INSERT INTO idempotency
                 (key, request_digest, status, body, created_at, msg_id, expunged_body,
                  holds_secrets)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (key) DO UPDATE SET request_digest = excluded.request_digest,
             status = excluded.status, body = excluded.body, created_at = excluded.created_at,
             msg_id = excluded.msg_id, expunged_body = excluded.expunged_body,
             holds_secrets = excluded.holds_secrets",
        )
        .await
        .map_err(backend)?;
    // Runs in the caller's transaction. The message row is held `FOR SHARE` until the answer
    // commits, so an expunge either finished first (and the content-free form is stored) or
    // waits and then finds this answer.
    let content_expunged = match &created_message {
        Some(created) => {
            let statement = c
                .prepare_cached("SELECT payload IS NULL FROM message WHERE id = $1 FOR SHARE")
                .await
                .map_err(backend)?;
            c.query_opt(&statement, &[&created.msg_id.as_str()])
                .await
                .map_err(backend)?
                .map(|row| get::<bool>(&row, 0))
                .transpose()?
                .unwrap_or(false)
        }
        None => false,
    };
    let stored_body =
        crate::store::body_to_store(sealing, key, response.body, response.holds_secrets)?;
    let (body, msg_id, expunged_body) =
        crate::store::answer_columns(stored_body, created_message, content_expunged);
    c.execute(
        &statement,
        &[
            &key,
            &response.request_digest,
            &i32::from(response.status),
            &body,
            &to_micros(now),
            &msg_id,
            &expunged_body,
            &response.holds_secrets,
        ],
    )
    .await
    .map_err(backend)?;
    Ok(())
}
