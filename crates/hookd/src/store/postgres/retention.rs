//! SQL for content removal on PostgreSQL: expunging a message's payload (one, or several by id
//! or uid) and an attempt's response body, and the retention
//! purges, which touch at most `limit` rows per transaction and skip rows another node holds
//! (`SKIP LOCKED`), so they never wait behind delivery work.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{limit_of, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::{AppId, AttemptId, MessageId, Timestamp};
use crate::store::{RetentionStore, StoreError};

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn expunge_message_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let expunged = expunge_named_message(&transaction, app_id, msg_id.as_str()).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(expunged)
    }

    async fn expunge_message_contents(
        &self,
        app_id: &AppId,
        names: Vec<String>,
    ) -> Result<Vec<bool>, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let mut found = Vec::with_capacity(names.len());
        for name in &names {
            found.push(expunge_named_message(&transaction, app_id, name).await?);
        }
        transaction.commit().await.map_err(backend)?;
        Ok(found)
    }

    async fn expunge_attempt_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        attempt_id: &AttemptId,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE attempt SET response = '' WHERE app_id = $1 AND msg_id = $2 AND id = $3",
                &[&app_id.as_str(), &msg_id.as_str(), &attempt_id.as_str()],
            )
            .await
            .map_err(backend)?;
        Ok(changed > 0)
    }

    async fn purge_payloads_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(backend)?;
        let purged = purge_payloads_before(&transaction, cutoff, limit).await?;
        transaction.commit().await.map_err(backend)?;
        Ok(purged)
    }

    async fn purge_attempt_bodies_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let client = self.client().await?;
        let c = &client;
        let purged = c
            .execute(
                "UPDATE attempt SET response = '' WHERE id IN (
                 SELECT id FROM attempt WHERE created_at < $1 AND response <> ''
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
                &[&to_micros(cutoff), &limit_of(limit)],
            )
            .await
            .map_err(backend)?;
        Ok(usize::try_from(purged).unwrap_or(usize::MAX))
    }
}

/// Removes the payload of the application's message `name` (its id, else its uid) in the
/// caller's transaction, and from the idempotent answer that created it.
pub(super) async fn expunge_named_message(
    c: &impl GenericClient,
    app_id: &AppId,
    name: &str,
) -> Result<bool, StoreError> {
    // Two statements, not one: the second reads afresh after the first has locked the
    // message row, so it also sees an answer whose writer (holding that row `FOR SHARE`, see
    // `put_idempotent_response`) committed meanwhile.
    let mut expunged = Vec::new();
    for column in ["id", "event_id"] {
        expunged = c
            .query(
                &format!(
                    "UPDATE message SET payload = NULL WHERE app_id = $1 AND {column} = $2
                     RETURNING id"
                ),
                &[&app_id.as_str(), &name],
            )
            .await
            .map_err(backend)?
            .iter()
            .map(|row| get::<String>(row, 0))
            .collect::<Result<Vec<_>, _>>()?;
        if !expunged.is_empty() {
            break;
        }
    }
    erase_from_idempotent_answers(c, &expunged).await?;
    Ok(!expunged.is_empty())
}

async fn purge_payloads_before(
    c: &impl GenericClient,
    cutoff: Timestamp,
    limit: usize,
) -> Result<usize, StoreError> {
    // Runs in the caller's transaction, in two statements for the reason given above.
    let purged = c
        .query(
            "UPDATE message SET payload = NULL WHERE id IN (
                 SELECT id FROM message WHERE created_at < $1 AND payload IS NOT NULL
                 AND NOT EXISTS (SELECT 1 FROM delivery WHERE delivery.msg_id = message.id
                                 AND delivery.status = 1)
                 LIMIT $2 FOR UPDATE SKIP LOCKED)
             RETURNING id",
            &[&to_micros(cutoff), &limit_of(limit)],
        )
        .await
        .map_err(backend)?
        .iter()
        .map(|row| get::<String>(row, 0))
        .collect::<Result<Vec<_>, _>>()?;
    erase_from_idempotent_answers(c, &purged).await?;
    Ok(purged.len())
}

/// Swaps in the content-free form of the idempotent answers that created these messages.
async fn erase_from_idempotent_answers(
    c: &impl GenericClient,
    msg_ids: &[String],
) -> Result<(), StoreError> {
    if msg_ids.is_empty() {
        return Ok(());
    }
    c.execute(
        "UPDATE idempotency SET body = expunged_body, expunged_body = NULL
         WHERE msg_id = ANY($1) AND expunged_body IS NOT NULL",
        &[&msg_ids],
    )
    .await
    .map_err(backend)?;
    Ok(())
}
