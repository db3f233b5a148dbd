//! `TokenStore`: application-scoped API tokens, by the SHA-256 of the token (hex); the token
//! itself is never stored. A token's row goes with its application (`ON DELETE CASCADE`), so
//! deleting an application revokes its tokens in the same transaction.

use async_trait::async_trait;

use super::{Page, PageRequest, StoreError};
use crate::domain::grants::{Capability, Grants};
use crate::domain::tokens::AppToken;
use crate::domain::{AppId, Timestamp, TokenId};

/// Which of an application's tokens `expire_app_tokens` shortens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSelection {
    /// Every token of the application.
    All,
    /// Only the tokens tagged with one of these session ids.
    Sessions(Vec<String>),
}

/// Tokens by application, found for authentication by their hash.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Saves a new token's record under the hash of the token.
    async fn create_app_token(&self, token: &AppToken, sha256: [u8; 32]) -> Result<(), StoreError>;

    /// The token whose hash is `sha256`, usable or not (the caller judges expiry and revocation).
    async fn find_app_token(&self, sha256: [u8; 32]) -> Result<Option<AppToken>, StoreError>;

    /// A page of an application's tokens, by id (newest first when descending).
    async fn list_app_tokens(
        &self,
        app_id: &AppId,
        page: PageRequest,
    ) -> Result<Page<AppToken>, StoreError>;

    /// Revokes one token of an application; `false` when it has no such token.
    async fn revoke_app_token(&self, app_id: &AppId, id: &TokenId) -> Result<bool, StoreError>;

    /// Makes the selected tokens of an application expire at `expires_at` at the latest (a
    /// token that expires sooner keeps its time). Answers how many were shortened.
    async fn expire_app_tokens(
        &self,
        app_id: &AppId,
        selection: TokenSelection,
        expires_at: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Deletes up to `limit` tokens that expired before `cutoff` (the retention sweep's);
    /// answers how many. An expired token authenticates nothing, and neither does a session
    /// started with it.
    async fn purge_app_tokens_expired_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
}

/// A token's feature flags as stored (`app_token.feature_flags`): space-separated, which is
/// safe because a parsed flag holds no space.
pub fn stored_feature_flags(grants: &Grants) -> String {
    let flags: Vec<&str> = grants.feature_flags.iter().map(String::as_str).collect();
    flags.join(" ")
}

/// A token's capabilities as stored (`app_token.capabilities`): space-separated Svix names,
/// NULL for the whole application.
pub fn stored_capabilities(grants: &Grants) -> Option<String> {
    grants.capabilities.as_ref().map(|capabilities| {
        let names: Vec<&str> = capabilities.iter().map(|c| c.as_str()).collect();
        names.join(" ")
    })
}

/// The grants of a stored row. A name this build does not know grants nothing (a newer
/// build's capability never widens an older one's token).
pub fn grants_from_stored(feature_flags: &str, capabilities: Option<&str>) -> Grants {
    Grants {
        feature_flags: feature_flags
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        capabilities: capabilities.map(|names| {
            names
                .split_whitespace()
                .filter_map(Capability::parse)
                .collect()
        }),
    }
}
