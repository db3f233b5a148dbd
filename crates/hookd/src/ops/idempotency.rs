//! Idempotency keys: reserving a key for a request, and remembering or forgetting its answer.
//!
//! The API's `Idempotency-Key` layer decides which requests carry a key and how a key and a
//! request are hashed; these operations own the rule of what a key already in the store means
//! (run, replay, refuse as reused, refuse as still running) and the store calls behind it. The
//! key is scoped by the caller's token hash before it gets here, so no principal check applies.

use std::time::Duration;

use super::{OpResult, Ops};
use crate::domain::Timestamp;
use crate::store::{CreatedMessageAnswer, IdempotentResponse, KeyClaim};

/// A reservation this old belonged to a request that died (its node crashed) and is taken over.
pub const ABANDONED_AFTER: Duration = Duration::from_secs(300);

/// One request under a key: the scoped key and the digest of the whole request.
#[derive(Debug, Clone, Copy)]
pub struct KeyedRequest<'a> {
    pub scoped_key: &'a str,
    pub request_digest: &'a str,
}

/// What a request under a key should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyedRun {
    /// The key is reserved for this request since `claimed_at`: run it, then `remember` (as of
    /// that time, from which the window counts) or `release`.
    Run { claimed_at: Timestamp },
    /// The same request already ran: answer with its stored answer.
    Replay(IdempotentResponse),
    /// The key was used for a different request.
    Reused,
    /// The same request is running now (on another node, since this node serializes its own).
    InProgress,
}

/// Reserves the key for `request`, or says why it cannot run. A key older than `window` is
/// forgotten and reserved anew.
pub async fn claim(ops: &Ops, request: KeyedRequest<'_>, window: Duration) -> OpResult<KeyedRun> {
    let now = ops.clock.now();
    let claim = ops
        .store
        .claim_idempotency_key(
            request.scoped_key,
            request.request_digest,
            now,
            ABANDONED_AFTER,
            window,
        )
        .await?;
    Ok(match claim {
        KeyClaim::Claimed => KeyedRun::Run { claimed_at: now },
        KeyClaim::Answered(stored) if stored.request_digest == request.request_digest => {
            KeyedRun::Replay(stored)
        }
        KeyClaim::InProgress { request_digest } if request_digest == request.request_digest => {
            KeyedRun::InProgress
        }
        KeyClaim::Answered(_) | KeyClaim::InProgress { .. } => KeyedRun::Reused,
    })
}

/// Frees the key of a request that did not succeed, so a retry runs it again.
pub async fn release(ops: &Ops, scoped_key: &str) -> OpResult<()> {
    Ok(ops.store.release_idempotency_key(scoped_key).await?)
}

/// Stores the answer of a request that succeeded, linked to the message it created (if any),
/// as of the time its key was claimed.
pub async fn remember(
    ops: &Ops,
    scoped_key: &str,
    answer: IdempotentResponse,
    created_message: Option<CreatedMessageAnswer>,
    claimed_at: Timestamp,
) -> OpResult<()> {
    Ok(ops
        .store
        .put_idempotent_response(scoped_key, answer, created_message, claimed_at)
        .await?)
}
