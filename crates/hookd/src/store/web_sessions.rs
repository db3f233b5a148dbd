//! Dashboard sessions (`crate::web`): what a browser's session cookie stands for.
//!
//! Only the SHA-256 of a session id is kept, so a copy of the database opens no session. The
//! principal is stored as the text `ops::web_sessions` writes (`admin`, or `token:<hex SHA-256 of the application token>`); the store
//! does not interpret it. Expiry is the caller's rule: the store keeps both times it needs.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::Timestamp;

/// One session, by the hash of its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSession {
    /// Lowercase hex SHA-256 of the session id the cookie holds.
    pub id_sha256: String,
    /// Who the session acts as, in `ops::web_sessions`' encoding.
    pub principal: String,
    /// The per-session token every state-changing request must carry.
    pub csrf_token: String,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
}

#[async_trait]
pub trait WebSessionStore: Send + Sync {
    async fn insert_web_session(&self, session: WebSession) -> Result<(), StoreError>;
    async fn get_web_session(&self, id_sha256: &str) -> Result<Option<WebSession>, StoreError>;
    /// Records that the session was used at `at`.
    async fn touch_web_session(&self, id_sha256: &str, at: Timestamp) -> Result<(), StoreError>;
    async fn delete_web_session(&self, id_sha256: &str) -> Result<(), StoreError>;
    /// Deletes every session last seen before `idle_cutoff` or created before
    /// `absolute_cutoff`; returns how many.
    async fn delete_expired_web_sessions(
        &self,
        idle_cutoff: Timestamp,
        absolute_cutoff: Timestamp,
    ) -> Result<u64, StoreError>;
}
