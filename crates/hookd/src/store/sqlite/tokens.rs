//! SQL for application-scoped tokens on SQLite.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, Row, params};

use super::rows::{from_micros, page_of_children, to_micros};
use super::{SqliteStore, backend};
use crate::domain::tokens::AppToken;
use crate::domain::{AppId, Timestamp, TokenId};
use crate::store::paging::Children;
use crate::store::tokens::{
    TokenSelection, TokenStore, grants_from_stored, stored_capabilities, stored_feature_flags,
};
use crate::store::{Page, PageRequest, StoreError};

const TOKEN_COLUMNS: &str =
    "id, app_id, name, read_only, session_id, created_at, expires_at, revoked, feature_flags,
     capabilities";

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_app_token(&self, token: &AppToken, sha256: [u8; 32]) -> Result<(), StoreError> {
        let token = token.clone();
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO app_token (id, token_sha256, app_id, name, read_only, session_id,
                 created_at, expires_at, revoked, feature_flags, capabilities)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )
            .map_err(backend)?
            .execute(params![
                token.id.as_str(),
                hex::encode(sha256),
                token.app_id.as_str(),
                token.name,
                token.read_only,
                token.session_id,
                to_micros(token.created_at),
                token.expires_at.map(to_micros),
                token.revoked,
                stored_feature_flags(&token.grants),
                stored_capabilities(&token.grants),
            ])
            .map_err(backend)?;
            Ok(())
        })
        .await
    }

    async fn find_app_token(&self, sha256: [u8; 32]) -> Result<Option<AppToken>, StoreError> {
        let sha256 = hex::encode(sha256);
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM app_token WHERE token_sha256 = ?1"
            ))
            .map_err(backend)?
            .query_row([&sha256], token_row)
            .optional()
            .map_err(backend)
        })
        .await
    }

    async fn list_app_tokens(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<AppToken>, StoreError> {
        let app_id = app_id.clone();
        self.read(move |c| {
            let children = Children {
                columns: TOKEN_COLUMNS,
                table: "app_token",
                parent_column: "app_id",
            };
            let read = |row: &Row<'_>| token_row(row).map_err(backend);
            page_of_children(c, children, app_id.as_str(), &page, read, |token| {
                token.id.to_string()
            })
        })
        .await
    }

    async fn revoke_app_token(&self, app_id: &AppId, id: &TokenId) -> Result<bool, StoreError> {
        let (app_id, id) = (app_id.clone(), id.clone());
        self.write(move |c| {
            let changed = c
                .prepare_cached("UPDATE app_token SET revoked = 1 WHERE app_id = ?1 AND id = ?2")
                .map_err(backend)?
                .execute([app_id.as_str(), id.as_str()])
                .map_err(backend)?;
            Ok(changed > 0)
        })
        .await
    }

    async fn expire_app_tokens(
        &self,
        app_id: &AppId,
        selection: TokenSelection,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        let app_id = app_id.clone();
        let expires_at = to_micros(expires_at);
        self.write(move |c| {
            let shorten = "UPDATE app_token SET expires_at = ?2 WHERE app_id = ?1
                 AND (expires_at IS NULL OR expires_at > ?2)";
            let changed = match &selection {
                TokenSelection::All => c
                    .prepare_cached(shorten)
                    .map_err(backend)?
                    .execute(params![app_id.as_str(), expires_at])
                    .map_err(backend)?,
                TokenSelection::Sessions(sessions) => {
                    let mut statement = c
                        .prepare_cached(&format!("{shorten} AND session_id = ?3"))
                        .map_err(backend)?;
                    let mut changed = 0;
                    for session in sessions {
                        changed += statement
                            .execute(params![app_id.as_str(), expires_at, session])
                            .map_err(backend)?;
                    }
                    changed
                }
            };
            Ok(changed as u64)
        })
        .await
    }

    async fn purge_app_tokens_expired_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write(move |c| {
            c.prepare_cached(
                "DELETE FROM app_token WHERE id IN (
                 SELECT id FROM app_token WHERE expires_at < ?1 LIMIT ?2)",
            )
            .map_err(backend)?
            .execute(params![to_micros(cutoff), limit])
            .map_err(backend)
        })
        .await
    }
}

fn token_row(row: &Row<'_>) -> rusqlite::Result<AppToken> {
    Ok(AppToken {
        id: TokenId::from_trusted(row.get::<_, String>(0)?),
        app_id: AppId::from_trusted(row.get::<_, String>(1)?),
        name: row.get(2)?,
        read_only: row.get(3)?,
        session_id: row.get(4)?,
        created_at: from_micros(row.get(5)?),
        expires_at: row.get::<_, Option<i64>>(6)?.map(from_micros),
        revoked: row.get(7)?,
        grants: grants_from_stored(
            &row.get::<_, String>(8)?,
            row.get::<_, Option<String>>(9)?.as_deref(),
        ),
    })
}
