//! Bearer-token authentication for every API route that is not `Scope::Public`.
//!
//! Only SHA-256 hashes of tokens are known to the server, so the presented token is hashed:
//! the hash is compared with the admin token's in constant time, and otherwise looked up among
//! the application-scoped tokens (`ops::tokens::authenticate`; by hash, never by prefix). The
//! hash of the accepted token is left in the request's extensions as `AuthenticatedToken`, so
//! the idempotency layer can scope keys by caller without ever holding the token, and beside it
//! the `Principal` the handlers pass to every operation. A route's scope is judged after
//! routing (`scoped_routes`). An authenticated caller over its rate limit is answered here
//! (`rate_limit`), before the request goes on.
//!
//! An unknown, expired or revoked token gets the same 401 (`invalid token`): the answer does
//! not tell a guesser whether a token ever existed.

use crate::domain::tokens::token_sha256;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiContext;
use super::error::ApiError;
use crate::ops::{Principal, tokens};

/// The caller that passed authentication, by the hash of its token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthenticatedToken {
    pub sha256: [u8; 32],
}

/// Middleware: lets the request through only with `Authorization: Bearer <token>` of the
/// admin or of a usable application token.
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
    let sha256 = token_sha256(token);
    let principal = if same_hash(&sha256, &ctx.admin_token_sha256) {
        Principal::Admin
    } else {
        match tokens::authenticate(&ctx.ops, sha256).await {
            Ok(Some(principal)) => principal,
            Ok(None) => return ApiError::Unauthorized("invalid token").into_response(),
            Err(error) => return ApiError::from(error).into_response(),
        }
    };
    let caller = AuthenticatedToken { sha256 };
    if let Some(refused) = super::rate_limit::refuse_over_limit(&ctx, &caller) {
        return refused;
    }
    request.extensions_mut().insert(caller);
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// The token of an `Authorization` header value, if it uses the Bearer scheme.
pub(super) fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Whether two token hashes are equal, compared in constant time.
fn same_hash(a: &[u8; 32], b: &[u8; 32]) -> bool {
    bool::from(a.ct_eq(b))
}

/// Whether `token` hashes to `expected_sha256`, compared in constant time (the `/metrics`
/// token).
pub(super) fn token_matches(token: &str, expected_sha256: &[u8; 32]) -> bool {
    same_hash(&token_sha256(token), expected_sha256)
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
    fn only_the_same_hash_matches() {
        let expected = token_sha256("testsk_secret");
        let hash = token_sha256;
        assert!(same_hash(&hash("testsk_secret"), &expected));
        assert!(!same_hash(&hash("testsk_secreT"), &expected));
        assert!(!same_hash(&hash(""), &expected));
    }
}
