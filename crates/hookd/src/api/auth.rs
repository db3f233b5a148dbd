//! Bearer-token authentication for every API route except health.
//!
//! Only the SHA-256 of the admin token is known to the server, so the presented token is hashed
//! and the hashes are compared in constant time. The hash of the accepted token is left in the
//! request's extensions as `AuthenticatedToken`, so the idempotency layer can scope keys by
//! caller without ever holding the token, and beside it the `Principal` the handlers pass to
//! every operation (the admin token is `Principal::Admin`; no token kind names another yet).
//! An authenticated caller over its rate limit is answered here (`rate_limit`), before the
//! request goes on.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::ApiContext;
use super::error::ApiError;
use crate::ops::Principal;

/// The caller that passed authentication, by the hash of its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedToken {
    pub sha256: [u8; 32],
}

/// Middleware: lets the request through only with `Authorization: Bearer <admin token>`.
pub async fn require_bearer_token(
    State(ctx): State<ApiContext>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(bearer_token);
    let Some(token) = presented else {
        return ApiError::Unauthorized("missing bearer token").into_response();
    };
    match authenticate(token, &ctx.admin_token_sha256) {
        Some(caller) => {
            if let Some(refused) = super::rate_limit::refuse_over_limit(&ctx, &caller) {
                return refused;
            }
            request.extensions_mut().insert(caller);
            request.extensions_mut().insert(Principal::Admin);
            next.run(request).await
        }
        None => ApiError::Unauthorized("invalid token").into_response(),
    }
}

/// The token of an `Authorization` header value, if it uses the Bearer scheme.
pub(super) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether `token` hashes to `expected_sha256`, compared in constant time.
pub(super) fn authenticate(token: &str, expected_sha256: &[u8; 32]) -> Option<AuthenticatedToken> {
    let sha256: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    bool::from(sha256.ct_eq(expected_sha256)).then_some(AuthenticatedToken { sha256 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }

    #[test]
    fn only_the_admin_token_authenticates() {
        let expected: [u8; 32] = Sha256::digest(b"testsk_secret").into();
        assert_eq!(
            authenticate("testsk_secret", &expected),
            Some(AuthenticatedToken { sha256: expected })
        );
        assert_eq!(authenticate("testsk_secreT", &expected), None);
        assert_eq!(authenticate("", &expected), None);
    }
}
