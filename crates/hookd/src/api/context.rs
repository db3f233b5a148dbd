//! What every handler shares: the operations and the API's settings, behind one reference
//! count.

use axum::http::HeaderMap;
use axum::http::header::HOST;

use super::{body_limits, rate_limit};
use crate::ops::Ops;

/// Everything the handlers share. Cloning is one reference count: axum clones the state for
/// every extractor and middleware of every request, and a clone of the fields themselves (a
/// dozen reference counts and the public URL's string) showed in profiles.
#[derive(Clone)]
pub struct ApiContext(std::sync::Arc<ApiSettings>);

impl ApiContext {
    pub fn new(settings: ApiSettings) -> Self {
        ApiContext(std::sync::Arc::new(settings))
    }
}

impl std::ops::Deref for ApiContext {
    type Target = ApiSettings;

    fn deref(&self) -> &ApiSettings {
        &self.0
    }
}

/// What `ApiContext` shares.
pub struct ApiSettings {
    /// The operations every handler calls, with the store and services they need.
    pub ops: Ops,
    /// SHA-256 of the admin bearer token; the token itself is never kept.
    pub admin_token_sha256: [u8; 32],
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// The read deadline of request bodies and the budget of body bytes in progress.
    pub body_limits: body_limits::BodyLimits,
    /// How long an `Idempotency-Key` is remembered; a repeat after this runs as a new request.
    pub idempotency_window: std::time::Duration,
    /// hookd's URL as providers reach it (`--public-url`), the base of every `ingestUrl`;
    /// without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// SHA-256 of `--metrics-token`; `None` leaves `/metrics` open.
    pub metrics_token_sha256: Option<[u8; 32]>,
    /// The per-token request rate limit; `None` when `--api-rate-limit` is 0.
    pub rate_limit: Option<std::sync::Arc<rate_limit::TokenRateLimit>>,
}

impl ApiContext {
    /// hookd's public base URL, without a trailing slash: `--public-url`, else `http://` and
    /// the request's `Host`. Ingest URLs and portal links start with it.
    pub fn public_base(&self, headers: &HeaderMap) -> String {
        crate::domain::public_urls::public_base(
            self.public_url.as_deref(),
            headers.get(HOST).and_then(|host| host.to_str().ok()),
        )
    }
}
