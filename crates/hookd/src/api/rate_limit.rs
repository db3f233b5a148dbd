//! The per-token request rate limit (`--api-rate-limit`, `--api-rate-burst`): a token bucket
//! per authenticated caller, keyed by the SHA-256 that `auth` leaves as `AuthenticatedToken`.
//!
//! It is checked after authentication, so a request without a valid token is refused by `auth`
//! before it could spend any token's budget, and the limiter only ever holds a bucket per real
//! token (its memory is bounded by the tokens there are). A refused request is answered 429
//! with `Retry-After` (whole seconds, at least 1) and does nothing. GCRA (`governor`): one
//! atomic compare-and-swap per request, no timer task.

use std::num::NonZeroU32;

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

/// The buckets of every token that made a request.
pub struct TokenRateLimit {
    limiter: RateLimiter<[u8; 32], DefaultKeyedStateStore<[u8; 32]>, DefaultClock>,
    clock: DefaultClock,
}

impl TokenRateLimit {
    pub fn new(limit: ApiRateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        TokenRateLimit {
            limiter: RateLimiter::keyed(quota),
            clock: DefaultClock::default(),
        }
    }

    /// Spends one request of `caller`'s budget, or says how long until it has one.
    pub fn admit(&self, caller: &AuthenticatedToken) -> Result<(), ApiError> {
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
