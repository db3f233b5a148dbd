//! `POST /ingest/in/{token}`: the ingest URL a provider sends its webhooks to.
//!
//! Unauthenticated, so everything here is bounded and nothing a request carries can make it
//! fail with 5xx or panic: the token names the source (404 otherwise), the body is read up to
//! the source's limit (413 past it) and kept byte for byte, header values that are not text
//! are kept lossily (they cannot be a valid signature anyway), and the answer is sent only
//! after the operation has committed the request: 200 forwarded or duplicate, 401 with a
//! reason code when the signature does not verify (never which byte differed), 415 for a body
//! that cannot be forwarded. Only a failing store answers 503, which providers retry.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::api::ApiContext;
use crate::api::error::ApiError;
use crate::api::json::read_request_body;
use crate::api::params::ApiPath;
use crate::domain::inbound::{InboundHeaders, RejectReason};
use crate::ops::inbound::{self, IncomingRequest, Receipt};

pub async fn receive(
    State(ctx): State<ApiContext>,
    ApiPath(token): ApiPath<String>,
    request: Request,
) -> Response {
    match receive_request(&ctx, &token, request).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn receive_request(
    ctx: &ApiContext,
    token: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let source = inbound::source_for_token(&ctx.ops, token).await?;
    let limit = usize::try_from(source.fields.config.max_body_bytes)
        .unwrap_or(usize::MAX)
        .min(ctx.max_body_bytes);
    let headers = InboundHeaders(
        request
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_owned(), value)
            })
            .collect(),
    );
    let url = format!(
        "{}{}",
        ctx.public_base(request.headers()),
        request.uri().path()
    );
    let query = request.uri().query().unwrap_or("").to_owned();
    let body = read_request_body(request, limit).await?;
    let incoming = IncomingRequest {
        headers,
        body: body.to_vec(),
        url,
        query,
    };
    let receipt = inbound::receive(&ctx.ops, &source, incoming).await?;
    Ok(match receipt {
        Receipt::Forwarded(msg_id) => (
            StatusCode::OK,
            Json(json!({"status": "accepted", "msgId": msg_id})),
        )
            .into_response(),
        Receipt::Duplicate(msg_id) => (
            StatusCode::OK,
            Json(json!({"status": "duplicate", "msgId": msg_id})),
        )
            .into_response(),
        Receipt::Challenge(challenge) => {
            (StatusCode::OK, Json(json!({"challenge": challenge}))).into_response()
        }
        Receipt::Rejected(reason) => {
            let status = match reason {
                RejectReason::Signature(_) => StatusCode::UNAUTHORIZED,
                RejectReason::BodyNotUtf8 => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            };
            let detail = match reason {
                RejectReason::Signature(error) => error.to_string(),
                RejectReason::BodyNotUtf8 => "only a UTF-8 text body can be forwarded".to_owned(),
            };
            (
                status,
                Json(json!({"code": reason.code(), "detail": detail})),
            )
                .into_response()
        }
    })
}
