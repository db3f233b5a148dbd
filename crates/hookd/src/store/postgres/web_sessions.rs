//! SQL for dashboard sessions on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{from_micros, to_micros};
use super::{PostgresStore, backend, get};
use crate::domain::Timestamp;
use crate::store::StoreError;
use crate::store::web_sessions::{WebSession, WebSessionStore};

#[async_trait]
impl WebSessionStore for PostgresStore {
    async fn insert_web_session(&self, session: WebSession) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO web_session (id_sha256, principal, csrf_token, created_at, last_seen_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .await
            .map_err(backend)?;
        client
            .execute(
                &statement,
                &[
                    &session.id_sha256,
                    &session.principal,
                    &session.csrf_token,
                    &to_micros(session.created_at),
                    &to_micros(session.last_seen_at),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get_web_session(&self, id_sha256: &str) -> Result<Option<WebSession>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT id_sha256, principal, csrf_token, created_at, last_seen_at
                 FROM web_session WHERE id_sha256 = $1",
            )
            .await
            .map_err(backend)?;
        let Some(row) = client
            .query_opt(&statement, &[&id_sha256])
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        Ok(Some(WebSession {
            id_sha256: get(&row, 0)?,
            principal: get(&row, 1)?,
            csrf_token: get(&row, 2)?,
            created_at: from_micros(get(&row, 3)?),
            last_seen_at: from_micros(get(&row, 4)?),
        }))
    }

    async fn touch_web_session(&self, id_sha256: &str, at: Timestamp) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("UPDATE web_session SET last_seen_at = $2 WHERE id_sha256 = $1")
            .await
            .map_err(backend)?;
        client
            .execute(&statement, &[&id_sha256, &to_micros(at)])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_web_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM web_session WHERE id_sha256 = $1")
            .await
            .map_err(backend)?;
        client
            .execute(&statement, &[&id_sha256])
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn delete_expired_web_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM web_session WHERE last_seen_at < $1 OR created_at < $2")
            .await
            .map_err(backend)?;
        client
            .execute(
                &statement,
                &[&to_micros(idle_cutoff), &to_micros(absolute_cutoff)],
            )
            .await
            .map_err(backend)
    }
}
