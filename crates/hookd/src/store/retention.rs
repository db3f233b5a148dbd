//! Content removal: expunging one message's payload, and the retention purges of old payloads
//! and attempt bodies. Rows are kept; only their content goes.

use async_trait::async_trait;

use super::StoreError;
use crate::domain::{AppId, AttemptId, MessageId, Timestamp};

/// Removes content that must not be kept.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Removes the message's payload (Svix `expunge_content`), and from the stored idempotent
    /// answer that created it; false when there is no such message. Its pending deliveries then
    /// fail without sending.
    async fn expunge_message_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
    ) -> Result<bool, StoreError>;
    /// Removes the payloads of the messages `names` (ids or uids) names, as
    /// `expunge_message_content` does, in one transaction; for each name, whether it named a
    /// message of the application.
    async fn expunge_message_contents(
        &self,
        app_id: &AppId,
        names: Vec<String>,
    ) -> Result<Vec<bool>, StoreError>;
    /// Empties the stored response body of one attempt of the message (Svix's
    /// `message_attempt.expunge_content`; hookd keeps no request body, the request was the
    /// message's payload); false when the message has no such attempt.
    async fn expunge_attempt_content(
        &self,
        app_id: &AppId,
        msg_id: &MessageId,
        attempt_id: &AttemptId,
    ) -> Result<bool, StoreError>;
    /// Removes the payloads of at most `limit` messages created before `cutoff` that have no
    /// pending delivery, also from the idempotent answers that created them; returns how many.
    /// Message rows are kept.
    async fn purge_payloads_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
    /// Empties the response bodies of at most `limit` attempts made before `cutoff`; returns how
    /// many. Attempt rows are kept.
    async fn purge_attempt_bodies_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
}
