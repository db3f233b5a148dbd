//! Idempotency keys: a reservation while a request runs, then its stored answer.

use std::time::Duration;

use async_trait::async_trait;

use super::StoreError;
use super::sealing::{Place, Sealing};
use crate::domain::{MessageId, Timestamp};

/// Requests that carried an `Idempotency-Key`, on any node.
#[async_trait]
pub trait IdempotencyStore: Send + Sync {
    /// Reserves `key` for a request about to run, or says what is known of it: its stored
    /// answer, or that another request (on any node) holds it. A reservation older than
    /// `abandon_after` belonged to a request that died, and is taken over; an answer older than
    /// `remember_for` is forgotten, and the request runs as a new one.
    async fn claim_idempotency_key(
        &self,
        key: &str,
        request_digest: &str,
        now: Timestamp,
        abandon_after: Duration,
        remember_for: Duration,
    ) -> Result<KeyClaim, StoreError>;
    /// Drops a reservation whose request did not succeed, so that a retry runs it again.
    async fn release_idempotency_key(&self, key: &str) -> Result<(), StoreError>;
    /// Stores the answer to the request that reserved `key`, linked to the message it created
    /// (if any) so that expunging that message's content also erases it from the answer.
    async fn put_idempotent_response(
        &self,
        key: &str,
        response: IdempotentResponse,
        created_message: Option<CreatedMessageAnswer>,
        now: Timestamp,
    ) -> Result<(), StoreError>;
    /// Deletes at most `limit` idempotency records (answers and reservations) made before
    /// `cutoff`; returns how many.
    async fn purge_idempotency_before(
        &self,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<usize, StoreError>;
}

/// What `claim_idempotency_key` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// The key is now reserved for this request: run it, then store or release.
    Claimed,
    /// A request with this key finished; here is its answer.
    Answered(IdempotentResponse),
    /// A request with this key is running now; it was for the request with this digest.
    InProgress { request_digest: String },
}

/// Reservations are stored with this status until the answer replaces them.
pub const IDEMPOTENCY_IN_PROGRESS: u16 = 0;

/// A stored response to a request that carried an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// A digest of the request (method, path, body) so a reused key with another body is caught.
    pub request_digest: String,
    pub status: u16,
    pub body: Vec<u8>,
    /// The answer carries a credential (a rotated secret, an issued token): it is stored
    /// sealed, as every secret column is (`store::sealing`), and opened when it is replayed.
    pub holds_secrets: bool,
}

/// The message a stored answer created, and that answer as it must read once the message's
/// content is expunged (its payload `{}`). Expunging or purging the content swaps it in, so a
/// replayed key neither gives the content back nor, as deleting the answer would, creates a
/// second message; the store swaps bytes without knowing the answer's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedMessageAnswer {
    pub msg_id: MessageId,
    pub body_without_content: Vec<u8>,
}

/// The idempotency columns `body`, `msg_id` and `expunged_body` for an answer: the content-free
/// form stands in for the answer when the message's content was expunged before the answer was
/// stored (a listing can reveal the id before the answer is written), so it never holds content
/// that is gone. Both backends use this, so the rule is written once.
pub(crate) fn answer_columns(
    body: Vec<u8>,
    created_message: Option<CreatedMessageAnswer>,
    content_expunged: bool,
) -> (Vec<u8>, Option<String>, Option<Vec<u8>>) {
    match created_message {
        None => (body, None, None),
        Some(created) if content_expunged => (
            created.body_without_content,
            Some(created.msg_id.as_str().to_owned()),
            None,
        ),
        Some(created) => (
            body,
            Some(created.msg_id.as_str().to_owned()),
            Some(created.body_without_content),
        ),
    }
}

/// The `body` column of an answer: sealed under the idempotency key when it holds a credential
/// (and a key is set), as it is otherwise. Both backends use this, so the rule is written once.
pub(crate) fn body_to_store(
    sealing: &Sealing,
    key: &str,
    body: Vec<u8>,
    holds_secrets: bool,
) -> Result<Vec<u8>, StoreError> {
    if !holds_secrets {
        return Ok(body);
    }
    let plain = String::from_utf8(body).map_err(|error| StoreError::Backend(Box::new(error)))?;
    Ok(sealing
        .seal(Place::idempotent_answer(key), &plain)
        .into_bytes())
}

/// A stored answer's `body` as the client first got it: opened when it holds a credential.
pub(crate) fn opened_body(
    sealing: &Sealing,
    key: &str,
    stored: Vec<u8>,
    holds_secrets: bool,
) -> Result<Vec<u8>, StoreError> {
    if !holds_secrets {
        return Ok(stored);
    }
    let stored = String::from_utf8(stored).map_err(|error| StoreError::Backend(Box::new(error)))?;
    Ok(sealing
        .open(Place::idempotent_answer(key), &stored)?
        .into_bytes())
}
