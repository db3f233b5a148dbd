//! The one error type of the API and the only place that renders error bodies.
//!
//! Every non-2xx answer is JSON, because the Svix SDKs parse every error body as JSON and crash
//! on anything else. Two shapes exist, as in Svix: `{"code", "detail"}` for general errors and
//! `{"detail": [{"loc", "msg", "type"}]}` for 422 validation errors. Database failures are logged
//! here with their source and answered with a generic body: their text never reaches a client.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};

use crate::domain::InvalidInput;
use crate::ops::{InputPlace, OpError};
use crate::store::StoreError;
use crate::telemetry::ErrorChain;

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Everything a request can fail with, by what the client should do about it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request body or a query value could not be read at all (such as malformed JSON).
    #[error("{0}")]
    BadRequest(String),
    /// No token, or not the right one.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// The token may not do this (another application's records, an admin-only call).
    #[error("{0}")]
    Forbidden(&'static str),
    /// The addressed resource (or route) does not exist.
    #[error("{0}")]
    NotFound(&'static str),
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// A unique value is taken, or an idempotency key was reused for another request.
    #[error("{0}")]
    Conflict(String),
    /// A resend or replay of a message whose content is gone (Svix's 400 `missing_payload`).
    #[error("{0}")]
    PayloadMissing(&'static str),
    /// The request body exceeds the configured limit.
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The request body did not arrive within the body read timeout.
    #[error("the request body did not arrive in time")]
    RequestTimeout,
    /// Too much is in progress to take this request now; the client may retry after a pause.
    #[error("the server is busy; retry in {} s", retry_after.as_secs())]
    Overloaded { retry_after: std::time::Duration },
    /// The caller's token made more requests than `--api-rate-limit` allows; it may retry
    /// after this many seconds.
    #[error("too many requests for this token; retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// The request was well-formed but some values are not acceptable.
    #[error("invalid request")]
    Validation(Vec<FieldError>),
    /// The store failed; the source is logged, never shown.
    #[error("store failure")]
    Store(#[source] StoreError),
    /// A broken invariant inside hookd (such as an endpoint without a secret).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

pub use super::field_error::FieldError;

impl ApiError {
    /// A 422 for one bad field of the JSON body.
    pub fn invalid_body(path: &[&str], msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::body(path, msg)])
    }

    /// A 422 for one body field whose domain parser refused it.
    pub fn invalid_input(path: &[&str], error: InvalidInput) -> Self {
        Self::invalid_body(path, error.message)
    }

    /// A 422 for one bad query-string parameter.
    pub fn invalid_query(name: &str, msg: impl Into<String>) -> Self {
        ApiError::Validation(vec![FieldError::query(name, msg)])
    }

    pub(super) fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) | ApiError::PayloadMissing(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) | ApiError::Store(StoreError::NotFound(_)) => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Store(StoreError::Conflict(_)) => StatusCode::CONFLICT,
            ApiError::Store(StoreError::Unavailable | StoreError::StorageFull(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(StoreError::Backend(_) | StoreError::Locked)
            | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `code` of a general error body; `None` for the 422 shape.
    fn code(&self) -> Option<&'static str> {
        Some(match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::PayloadMissing(_) => "missing_payload",
            ApiError::Unauthorized(_) => "authentication_failed",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) | ApiError::Store(StoreError::NotFound(_)) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Conflict(_) | ApiError::Store(StoreError::Conflict(_)) => "conflict",
            ApiError::PayloadTooLarge { .. } => "payload_too_large",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Validation(_) => return None,
            ApiError::Store(StoreError::Unavailable) => "service_unavailable",
            ApiError::Store(StoreError::StorageFull(_)) => "storage_full",
            ApiError::Store(StoreError::Backend(_) | StoreError::Locked)
            | ApiError::Internal(_) => "internal_error",
        })
    }

    /// The `detail` of a general error body: safe to show, so never a database message.
    fn detail(&self) -> String {
        match self {
            ApiError::Store(StoreError::Conflict(message)) => message.clone(),
            ApiError::Store(StoreError::NotFound(what)) => (*what).to_owned(),
            ApiError::Store(StoreError::Unavailable) => {
                "the server is shutting down or temporarily unavailable".to_owned()
            }
            ApiError::Store(StoreError::StorageFull(_)) => {
                "the server's storage is full; nothing was stored, retry later".to_owned()
            }
            ApiError::Store(StoreError::Backend(_) | StoreError::Locked)
            | ApiError::Internal(_) => "internal server error".to_owned(),
            other => other.to_string(),
        }
    }

    /// The response body as JSON; public for tests and for the idempotency layer's replays.
    pub fn body(&self) -> serde_json::Value {
        match (self, self.code()) {
            (ApiError::Validation(errors), _) => serde_json::json!({ "detail": errors }),
            (_, code) => serde_json::json!({ "code": code, "detail": self.detail() }),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(message) => ApiError::Conflict(message),
            StoreError::NotFound(what) => ApiError::NotFound(what),
            other => ApiError::Store(other),
        }
    }
}

/// An operation's failure as the API answers it. A change refused inside a read-modify-write
/// carries the handler's own `ApiError` (a 422 for a field), which is answered unchanged.
impl From<OpError> for ApiError {
    fn from(error: OpError) -> Self {
        match error {
            OpError::NotFound(what) => ApiError::NotFound(what),
            OpError::Forbidden(why) => ApiError::Forbidden(why),
            OpError::Conflict(message) => ApiError::Conflict(message),
            OpError::PayloadMissing(why) => ApiError::PayloadMissing(why),
            OpError::Invalid(field) => {
                let place = match field.place {
                    InputPlace::Body => "body",
                    InputPlace::Path => "path",
                    InputPlace::Query => "query",
                };
                let path: Vec<&str> = field.path.iter().map(String::as_str).collect();
                ApiError::Validation(vec![FieldError::at(place, &path, field.message)])
            }
            OpError::PayloadRejected(rejection) => super::payload_rejection::render(rejection),
            OpError::Refused(refusal) => match refusal.0.downcast::<ApiError>() {
                Ok(error) => *error,
                Err(_) => ApiError::Internal("a change was refused without an API error"),
            },
            OpError::Store(error) => ApiError::from(error),
            OpError::Internal(what) => ApiError::Internal(what),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Store(StoreError::Backend(source)) => {
                tracing::error!(error = %ErrorChain(&**source), "store backend failed while answering a request");
            }
            ApiError::Store(StoreError::Locked) => {
                tracing::error!("store locked by another process while answering a request");
            }
            ApiError::Store(StoreError::Unavailable) => {
                tracing::warn!("store unavailable while answering a request");
            }
            ApiError::Store(StoreError::StorageFull(source)) => {
                tracing::error!(error = %ErrorChain(&**source), "store out of space while answering a request");
            }
            ApiError::Internal(what) => {
                tracing::error!(error = what, "internal error while answering a request");
            }
            ApiError::Overloaded { retry_after } => {
                let retry_after = [(RETRY_AFTER, retry_after.as_secs().max(1).to_string())];
                return (self.status(), retry_after, Json(self.body())).into_response();
            }
            ApiError::RateLimited { retry_after_secs } => {
                let retry_after = [(RETRY_AFTER, retry_after_secs.max(&1).to_string())];
                return (self.status(), retry_after, Json(self.body())).into_response();
            }
            _ => {}
        }
        (self.status(), Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(error: ApiError, status: u16, body: serde_json::Value) {
        assert_eq!(error.status().as_u16(), status, "status of {error:?}");
        assert_eq!(error.body(), body, "body of {error:?}");
    }

    #[test]
    fn general_errors_have_code_and_detail() {
        check(
            ApiError::NotFound("application not found"),
            404,
            json!({"code": "not_found", "detail": "application not found"}),
        );
        check(
            ApiError::Unauthorized("missing bearer token"),
            401,
            json!({"code": "authentication_failed", "detail": "missing bearer token"}),
        );
        check(
            ApiError::Conflict("uid taken".into()),
            409,
            json!({"code": "conflict", "detail": "uid taken"}),
        );
        check(
            ApiError::PayloadTooLarge { limit: 10 },
            413,
            json!({"code": "payload_too_large", "detail": "request body is larger than 10 bytes"}),
        );
        check(
            ApiError::BadRequest("malformed JSON".into()),
            400,
            json!({"code": "bad_request", "detail": "malformed JSON"}),
        );
        check(
            ApiError::MethodNotAllowed,
            405,
            json!({"code": "method_not_allowed", "detail": "method not allowed"}),
        );
    }

    #[test]
    fn validation_errors_list_locations() {
        check(
            ApiError::invalid_body(&["url"], "url scheme must be http or https"),
            422,
            json!({"detail": [{
                "loc": ["body", "url"],
                "msg": "url scheme must be http or https",
                "type": "value_error"
            }]}),
        );
        check(
            ApiError::invalid_query("limit", "must be a number"),
            422,
            json!({"detail": [{"loc": ["query", "limit"], "msg": "must be a number", "type": "value_error"}]}),
        );
    }

    #[test]
    fn operation_failures_keep_their_answers() {
        check(
            OpError::NotFound("endpoint not found").into(),
            404,
            json!({"code": "not_found", "detail": "endpoint not found"}),
        );
        check(
            OpError::Forbidden("this operation needs the admin token").into(),
            403,
            json!({"code": "forbidden", "detail": "this operation needs the admin token"}),
        );
        check(
            OpError::invalid_path("app_id", "bad uid").into(),
            422,
            json!({"detail": [{"loc": ["path", "app_id"], "msg": "bad uid", "type": "value_error"}]}),
        );
        let refused =
            crate::store::ChangeRefused(Box::new(ApiError::invalid_body(&["headers"], "too many")));
        check(
            OpError::Refused(refused).into(),
            422,
            json!({"detail": [{"loc": ["body", "headers"], "msg": "too many", "type": "value_error"}]}),
        );
        check(
            OpError::from(StoreError::Unavailable).into(),
            503,
            json!({"code": "service_unavailable", "detail": "the server is shutting down or temporarily unavailable"}),
        );
    }

    #[test]
    fn store_failures_never_show_their_text() {
        let source: Box<dyn std::error::Error + Send + Sync> =
            "UNIQUE constraint failed: secret_table.key=whsec_abc".into();
        let error = ApiError::from(StoreError::Backend(source));
        check(
            error,
            500,
            json!({"code": "internal_error", "detail": "internal server error"}),
        );
        check(
            ApiError::from(StoreError::Conflict(
                "an application with this uid exists".into(),
            )),
            409,
            json!({"code": "conflict", "detail": "an application with this uid exists"}),
        );
        check(
            ApiError::from(StoreError::Unavailable),
            503,
            json!({"code": "service_unavailable", "detail": "the server is shutting down or temporarily unavailable"}),
        );
        check(
            ApiError::from(StoreError::StorageFull(
                "database or disk is full: /var/lib/hookd/hookd.db".into(),
            )),
            503,
            json!({"code": "storage_full", "detail": "the server's storage is full; nothing was stored, retry later"}),
        );
    }
}
