//! SQL for application-scoped tokens on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;

use super::rows::{from_micros, page_of_children, to_micros};
use super::{PostgresStore, backend, get};
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
impl TokenStore for PostgresStore {
    async fn create_app_token(&self, token: &AppToken, sha256: [u8; 32]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO app_token (id, token_sha256, app_id, name, read_only, session_id,
                 created_at, expires_at, revoked, feature_flags, capabilities)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .await
            .map_err(backend)?;
        client
            .execute(
                &statement,
                &[
                    &token.id.as_str(),
                    &hex::encode(sha256),
                    &token.app_id.as_str(),
                    &token.name,
                    &token.read_only,
                    &token.session_id,
                    &to_micros(token.created_at),
                    &token.expires_at.map(to_micros),
                    &token.revoked,
                    &stored_feature_flags(&token.grants),
                    &stored_capabilities(&token.grants),
                ],
            )
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn find_app_token(&self, sha256: [u8; 32]) -> Result<Option<AppToken>, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM app_token WHERE token_sha256 = $1"
            ))
            .await
            .map_err(backend)?;
        client
            .query_opt(&statement, &[&hex::encode(sha256)])
            .await
            .map_err(backend)?
            .map(|row| token_row(&row))
            .transpose()
    }

    async fn list_app_tokens(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<AppToken>, StoreError> {
        let children = Children {
            columns: TOKEN_COLUMNS,
            table: "app_token",
            parent_column: "app_id",
        };
        let client = self.client().await?;
        page_of_children(
            &client,
            children,
            app_id.as_str(),
            &page,
            token_row,
            |token| token.id.to_string(),
        )
        .await
    }

    async fn revoke_app_token(&self, app_id: &AppId, id: &TokenId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("UPDATE app_token SET revoked = true WHERE app_id = $1 AND id = $2")
            .await
            .map_err(backend)?;
        let changed = client
            .execute(&statement, &[&app_id.as_str(), &id.as_str()])
            .await
            .map_err(backend)?;
        Ok(changed > 0)
    }

    async fn expire_app_tokens(
        &self,
        app_id: &AppId,
        selection: TokenSelection,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let sessions: Option<Vec<String>> = match selection {
            TokenSelection::All => None,
            TokenSelection::Sessions(sessions) => Some(sessions),
        };
        let statement = client
            .prepare_cached(
                "UPDATE app_token SET expires_at = $2 WHERE app_id = $1
                 AND (expires_at IS NULL OR expires_at > $2)
                 AND ($3::text[] IS NULL OR session_id = ANY($3))",
            )
            .await
            .map_err(backend)?;
        client
            .execute(
                &statement,
                &[&app_id.as_str(), &to_micros(expires_at), &sessions],
            )
            .await
            .map_err(backend)
    }

    async fn purge_app_tokens_expired_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError> {
        // Skips rows another node holds.
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "DELETE FROM app_token WHERE id IN (
                 SELECT id FROM app_token WHERE expires_at < $1
                 LIMIT $2 FOR UPDATE SKIP LOCKED)",
            )
            .await
            .map_err(backend)?;
        let purged = client
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

fn token_row(row: &tokio_postgres::Row) -> Result<AppToken, StoreError> {
    Ok(AppToken {
        id: TokenId::from_trusted(get::<String>(row, 0)?),
        app_id: AppId::from_trusted(get::<String>(row, 1)?),
        name: get(row, 2)?,
        read_only: get(row, 3)?,
        session_id: get(row, 4)?,
        created_at: from_micros(get(row, 5)?),
        expires_at: get::<Option<i64>>(row, 6)?.map(from_micros),
        revoked: get(row, 7)?,
        grants: grants_from_stored(
            &get::<String>(row, 8)?,
            get::<Option<String>>(row, 9)?.as_deref(),
        ),
    })
}
