//! `Idempotency-Key` on POST: a retried request gets the first answer and creates nothing new.
//!
//! The Svix SDK sends a key with every POST and reuses it when it retries after a 5xx or a
//! transport error, so this is what makes SDK retries safe. A key is scoped by the caller's
//! token hash, the method and the path; the stored answer carries a digest of the whole request
//! (method, path, query, body) so reusing a key for a different request is refused with 409
//! instead of silently replaying something unrelated. Only 2xx answers are stored: an error is
//! worth retrying. Before running, a request reserves its key in the store, so the same key on
//! two nodes runs once (the second gets 409 while the first is in progress); on this node,
//! requests with the same key are serialized by a per-key lock, so a retry that races the
//! original waits for it and then replays its answer.
//!
//! Keys are remembered for the idempotency window (`--idempotency-window`, 12 h as in Svix):
//! a key repeated later runs as a new request, and the retention sweep deletes older records.
//! An answer that created a message is linked to it (the handler leaves a
//! `CreatedMessageAnswer` in the response's extensions), so expunging that message's content
//! also erases it from the answer; the answer is kept, since forgetting it would let a replay
//! create a second message. An answer that carries a credential (`AnswerHoldsSecrets`) is
//! stored sealed when an encryption key is set, as every secret column is.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::OwnedMutexGuard;

use super::ApiContext;
use super::auth::AuthenticatedToken;
use super::error::{ApiError, ApiResult};
use super::json::{check_declared_length, read_body};
use crate::ops::idempotency::{self, KeyedRequest, KeyedRun};
use crate::store::{CreatedMessageAnswer, IdempotentResponse};
use crate::telemetry::ErrorChain;

/// The request header that carries the key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on replayed answers so a client (or a test) can tell them apart.
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longer keys are refused; the SDK's `auto_<uuid4>` is 41 characters.
const MAX_KEY_LENGTH: usize = 256;

/// The state of the idempotency middleware: the API context and this node's per-key locks.
#[derive(Clone)]
pub struct Idempotency {
    ctx: ApiContext,
    locks: Arc<KeyLocks>,
}

impl Idempotency {
    pub fn new(ctx: ApiContext) -> Self {
        Idempotency {
            ctx,
            locks: Arc::new(KeyLocks::default()),
        }
    }
}

/// Left in a response's extensions by a handler whose answer must not be stored (the
/// environment export, which carries every signing secret and credential: stored, they would
/// sit unsealed in the idempotency table for the whole window). Its key is released instead,
/// so a retry runs again, which is harmless for a read.
#[derive(Debug, Clone, Copy)]
pub struct AnswerNotRemembered;

/// Left in a response's extensions by a handler whose answer carries a credential (a rotated
/// signing secret, an issued token): it is remembered like any other answer, so an SDK retry
/// gets the same credential back, but stored sealed like every secret column.
#[derive(Debug, Clone, Copy)]
pub struct AnswerHoldsSecrets;

/// Middleware: replays stored answers for repeated keys and records new 2xx answers.
pub async fn replay_or_record(
    State(state): State<Idempotency>,
    request: Request,
    next: Next,
) -> Response {
    match handle(&state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &Idempotency, request: Request, next: Next) -> ApiResult<Response> {
    let Some(key) = idempotency_key(&request)? else {
        return Ok(next.run(request).await);
    };
    let caller = request
        .extensions()
        .get::<AuthenticatedToken>()
        .map_or([0; 32], |token| token.sha256);
    let ops = &state.ctx.ops;
    let (parts, body) = request.into_parts();
    let limit = state.ctx.max_body_bytes;
    check_declared_length(&parts.headers, limit)?;
    let body = read_body(body, limit).await?;

    let path = parts.uri.path();
    let scope_key = scoped_key(&caller, parts.method.as_str(), path, &key);
    let digest = request_digest(
        parts.method.as_str(),
        path,
        parts.uri.query().unwrap_or(""),
        &body,
    );

    let _held = state.locks.lock(&scope_key).await;
    let keyed = KeyedRequest {
        scoped_key: &scope_key,
        request_digest: &digest,
    };
    let claimed_at = match idempotency::claim(ops, keyed, state.ctx.idempotency_window).await? {
        KeyedRun::Run { claimed_at } => claimed_at,
        KeyedRun::Replay(stored) => {
            tracing::debug!("replaying the stored answer for a repeated idempotency key");
            return Ok(replay(stored));
        }
        KeyedRun::Reused => {
            return Err(ApiError::Conflict(
                "this Idempotency-Key was already used for a different request".into(),
            ));
        }
        KeyedRun::InProgress => {
            // The same request is running on another node; this node's lock only orders
            // requests that reach this node.
            return Err(ApiError::Conflict(
                "a request with this Idempotency-Key is still in progress; retry shortly".into(),
            ));
        }
    };

    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let not_remembered = response.extensions().get::<AnswerNotRemembered>().is_some();
    if !response.status().is_success() || not_remembered {
        if let Err(error) = idempotency::release(ops, &scope_key).await {
            // The reservation lapses after `idempotency::ABANDONED_AFTER`; until then a retry gets 409.
            tracing::warn!(error = %ErrorChain(&error), "could not release an idempotency key");
        }
        return Ok(response);
    }
    let (mut response_parts, response_body) = response.into_parts();
    let created_message = response_parts.extensions.remove::<CreatedMessageAnswer>();
    let holds_secrets = response_parts
        .extensions
        .remove::<AnswerHoldsSecrets>()
        .is_some();
    let response_bytes = axum::body::to_bytes(response_body, usize::MAX)
        .await
        .map_err(|_| ApiError::Internal("failed to buffer a response for idempotency"))?;
    let stored = IdempotentResponse {
        request_digest: digest,
        status: response_parts.status.as_u16(),
        body: response_bytes.to_vec(),
        holds_secrets,
    };
    if let Err(error) =
        idempotency::remember(ops, &scope_key, stored, created_message, claimed_at).await
    {
        // The request itself succeeded and its effects are committed; failing it now would
        // only make the client retry. A retry after this point may repeat the request.
        tracing::warn!(error = %ErrorChain(&error), "could not store an idempotent response");
    }
    Ok(Response::from_parts(
        response_parts,
        Body::from(response_bytes),
    ))
}

/// The key of a POST request, if it has one.
fn idempotency_key(request: &Request) -> ApiResult<Option<String>> {
    if request.method() != Method::POST {
        return Ok(None);
    }
    let Some(value) = request.headers().get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::BadRequest("Idempotency-Key must be printable ASCII".to_owned()))?
        .trim();
    if key.len() > MAX_KEY_LENGTH {
        return Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be at most {MAX_KEY_LENGTH} characters"
        )));
    }
    Ok((!key.is_empty()).then(|| key.to_owned()))
}

/// The stored key: who asked, how, where, and the client's key, hashed to a fixed length.
fn scoped_key(caller_sha256: &[u8; 32], method: &str, path: &str, key: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(caller_sha256);
    for part in [method, path, key] {
        hasher.update([0]);
        hasher.update(part.as_bytes());
    }
    format!("idem_{}", hex::encode(hasher.finalize()))
}

/// What must match for a repeated key to be a replay of the same request.
fn request_digest(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.as_bytes(), body] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    hex::encode(hasher.finalize())
}

fn replay(stored: IdempotentResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, Bytes::from(stored.body.clone())).into_response();
    let headers = response.headers_mut();
    if stored.body.is_empty() {
        headers.remove(CONTENT_TYPE);
    } else {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    response
}

/// One async mutex per key in use. Entries are removed when their last holder or waiter is
/// gone, so the map only holds keys with requests in flight.
#[derive(Default)]
struct KeyLocks {
    by_key: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl KeyLocks {
    async fn lock(self: &Arc<Self>, key: &str) -> KeyLockGuard {
        let mutex = {
            let mut by_key = self.by_key.lock().expect("idempotency lock map poisoned");
            Arc::clone(by_key.entry(key.to_owned()).or_default())
        };
        let guard = Arc::clone(&mutex).lock_owned().await;
        KeyLockGuard {
            locks: Arc::clone(self),
            key: key.to_owned(),
            mutex,
            guard: Some(guard),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_key
            .lock()
            .expect("idempotency lock map poisoned")
            .len()
    }
}

struct KeyLockGuard {
    locks: Arc<KeyLocks>,
    key: String,
    mutex: Arc<tokio::sync::Mutex<()>>,
    guard: Option<OwnedMutexGuard<()>>,
}

impl Drop for KeyLockGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut by_key = self
            .locks
            .by_key
            .lock()
            .expect("idempotency lock map poisoned");
        // One reference is the map's and one is ours: nobody else holds or awaits this key, and
        // nobody can start to while we hold the map lock.
        if Arc::strong_count(&self.mutex) == 2 {
            by_key.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn keys_are_scoped_by_caller_method_and_path() {
        let alice = [1; 32];
        let bob = [2; 32];
        let key = scoped_key(&alice, "POST", "/api/v1/app", "k");
        assert_eq!(key, scoped_key(&alice, "POST", "/api/v1/app", "k"));
        assert_ne!(key, scoped_key(&bob, "POST", "/api/v1/app", "k"));
        assert_ne!(key, scoped_key(&alice, "POST", "/api/v1/app/x/msg", "k"));
        assert_ne!(key, scoped_key(&alice, "POST", "/api/v1/app", "k2"));
    }

    #[test]
    fn digests_cover_query_and_body_without_ambiguity() {
        let digest = request_digest("POST", "/a", "x=1", b"{}");
        assert_eq!(digest, request_digest("POST", "/a", "x=1", b"{}"));
        assert_ne!(digest, request_digest("POST", "/a", "x=2", b"{}"));
        assert_ne!(digest, request_digest("POST", "/a", "x=1", b"{ }"));
        assert_ne!(
            request_digest("POST", "/a", "b", b""),
            request_digest("POST", "/a", "", b"b")
        );
    }

    #[tokio::test]
    async fn same_key_requests_wait_for_each_other_and_leave_no_entries() {
        let locks = Arc::new(KeyLocks::default());
        let first = locks.lock("k").await;
        let waiter = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let _second = locks.lock("k").await;
            })
        };
        let other_key = locks.lock("other").await;
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished(), "the second holder must wait");
        drop(other_key);
        drop(first);
        waiter.await.unwrap();
        assert_eq!(locks.len(), 0);
    }
}
