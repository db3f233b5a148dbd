//! SQL for dashboard sessions on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use super::rows::{from_micros, to_micros};
use super::{SqliteStore, backend};
use crate::domain::Timestamp;
use crate::store::StoreError;
use crate::store::web_sessions::{WebSession, WebSessionStore};

#[async_trait]
impl WebSessionStore for SqliteStore {
    async fn insert_web_session(&self, session: WebSession) -> Result<(), StoreError> {
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO web_session (id_sha256, principal, csrf_token, created_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(backend)?
            .execute(params![
                session.id_sha256,
                session.principal,
                session.csrf_token,
                to_micros(session.created_at),
                to_micros(session.last_seen_at),
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn get_web_session(&self, id_sha256: &str) -> Result<Option<WebSession>, StoreError> {
        let id_sha256 = id_sha256.to_owned();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT id_sha256, principal, csrf_token, created_at, last_seen_at
                 FROM web_session WHERE id_sha256 = ?1",
            )
            .map_err(backend)?
            .query_row([&id_sha256], |row| {
                Ok(WebSession {
                    id_sha256: row.get(0)?,
                    principal: row.get(1)?,
                    csrf_token: row.get(2)?,
                    created_at: from_micros(row.get(3)?),
                    last_seen_at: from_micros(row.get(4)?),
                })
            })
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn touch_web_session(&self, id_sha256: &str, at: Timestamp) -> Result<(), StoreError> {
        let id_sha256 = id_sha256.to_owned();
        self.write(move |c| {
            c.prepare_cached("UPDATE web_session SET last_seen_at = ?2 WHERE id_sha256 = ?1")
                .map_err(backend)?
                .execute(params![id_sha256, to_micros(at)])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_web_session(&self, id_sha256: &str) -> Result<(), StoreError> {
        let id_sha256 = id_sha256.to_owned();
        self.write(move |c| {
            c.prepare_cached("DELETE FROM web_session WHERE id_sha256 = ?1")
                .map_err(backend)?
                .execute([id_sha256])
                .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn delete_expired_web_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError> {
        self.write(move |c| {
            let deleted = c
                .prepare_cached(
                    "DELETE FROM web_session WHERE last_seen_at < ?1 OR created_at < ?2",
                )
                .map_err(backend)?
                .execute(params![to_micros(idle_cutoff), to_micros(absolute_cutoff)])
                .map_err(backend)?;
            Ok(deleted as u64)
        })
        .await
    }
}
