//! The per-token request rate limit (`--api-rate-limit`, `--api-rate-burst`): a token bucket
//! per authenticated caller, keyed by the SHA-256 that `auth` leaves as `AuthenticatedToken`.
//!
//! It is checked after authentication, so a request without a valid token is refused by `auth`
//! before it could spend any token's budget, and the limiter only ever holds buckets of real
//! tokens; a bucket is dropped once it has refilled, so its memory is bounded by the tokens
//! used within a refill. A refused request is answered 429 with `Retry-After` (whole seconds,
//! at least 1) and does nothing. GCRA (`governor`): one atomic compare-and-swap per request,
//! no timer task.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::ApiContext;
use super::auth::AuthenticatedToken;
use super::error::ApiError;

/// The per-token API rate limit: a token bucket of `burst` requests refilled at
/// `per_second`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRateLimit {
    pub per_second: NonZeroU32,
    pub burst: NonZeroU32,
}

/// The answer to an authenticated caller over its limit, counted in
/// `hookd_api_rate_limited_total`; `None` lets the request through.
pub(super) fn refuse_over_limit(ctx: &ApiContext, caller: &AuthenticatedToken) -> Option<Response> {
    let refused = ctx.rate_limit.as_ref()?.admit(caller).err()?;
    ctx.ops.instruments.api_rate_limited.increment(1);
    Some(refused.into_response())
}

/// How many checks pass between two prunings of the buckets.
const PRUNE_EVERY: u64 = 4096;

/// The buckets of the tokens that made a request recently.
pub struct TokenRateLimit {
    limiter: RateLimiter<[u8; 32], DefaultKeyedStateStore<[u8; 32]>, DefaultClock>,
    clock: DefaultClock,
    checks: AtomicU64,
}

impl TokenRateLimit {
    pub fn new(limit: ApiRateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        TokenRateLimit {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            checks: AtomicU64::new(0),
        }
    }

    /// Spends one request of `caller`'s budget, or says how long until it has one.
    pub fn admit(&self, caller: &AuthenticatedToken) -> Result<(), ApiError> {
        // A bucket is kept until it has refilled: every so often the full ones are dropped
        // (governor keeps them otherwise), so revoked, expired and idle tokens (a portal link
        // is a token per session) do not hold memory for the life of the process.
        if self.checks.fetch_add(1, Ordering::Relaxed) % PRUNE_EVERY == PRUNE_EVERY - 1 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&caller.sha256).map_err(|not_until| {
            let wait = not_until.wait_time_from(self.clock.now());
            ApiError::RateLimited {
                retry_after_secs: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_that_refilled_are_dropped() {
        // Refilled within a microsecond, so every bucket but the newest is full when pruned.
        let limit = TokenRateLimit::new(ApiRateLimit {
            per_second: NonZeroU32::new(1_000_000).unwrap(),
            burst: NonZeroU32::MIN,
        });
        for n in 0..PRUNE_EVERY {
            let mut sha256 = [0u8; 32];
            sha256[..8].copy_from_slice(&n.to_le_bytes());
            limit.admit(&AuthenticatedToken { sha256 }).unwrap();
        }
        assert!(
            limit.limiter.len() < PRUNE_EVERY as usize / 2,
            "{} buckets kept",
            limit.limiter.len()
        );
    }

    fn token(byte: u8) -> AuthenticatedToken {
        AuthenticatedToken { sha256: [byte; 32] }
    }

    #[test]
    fn a_burst_past_the_limit_is_refused_and_another_token_is_not() {
        let limit = TokenRateLimit::new(ApiRateLimit {
            per_second: NonZeroU32::MIN,
            burst: NonZeroU32::new(3).unwrap(),
        });
        for _ in 0..3 {
            assert!(limit.admit(&token(1)).is_ok());
        }
        match limit.admit(&token(1)) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 1),
            other => panic!("expected a refusal, got {other:?}"),
        }
        for _ in 0..3 {
            assert!(
                limit.admit(&token(2)).is_ok(),
                "another token has its own bucket"
            );
        }
    }
}
