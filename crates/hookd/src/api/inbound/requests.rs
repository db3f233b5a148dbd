//! `/ingest/api/v1/source/{source_id}/request`: what a source received (hookd's own; Svix
//! Ingest shows none): each request with its verdict and reason, its headers with secrets
//! redacted, and its body (text when it is UTF-8, else `bodyBase64`); and the replay of an
//! accepted one to the source's ingest endpoints.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::{Value, json};

use crate::api::ApiContext;
use crate::api::error::ApiResult;
use crate::api::pagination::{ListResponse, PageQuery, render_page};
use crate::api::params::{ApiPath, ApiQuery};
use crate::domain::inbound::{AppForward, InboundRequestRecord, Verdict};
use crate::domain::{InboundRequestId, MessageId, Timestamp};
use crate::ops::{Principal, inbound};
use crate::store::Order;

/// One received request.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundRequestOut {
    pub id: InboundRequestId,
    #[schema(value_type = String, format = DateTime)]
    pub received_at: Timestamp,
    /// `accepted`, `duplicate` or `rejected`.
    pub verdict: &'static str,
    /// Why it was rejected (a stable code such as `no_matching_signature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg_id: Option<MessageId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// The message it also became in the source's `forwardToApp` application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_msg_id: Option<MessageId>,
    /// Why it did not (`application_not_found`: the application was deleted since;
    /// `body_not_json_object`: only a JSON object becomes an application's message).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_forward_error: Option<&'static str>,
    pub headers: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body_base64: Option<String>,
}

impl From<InboundRequestRecord> for InboundRequestOut {
    fn from(record: InboundRequestRecord) -> Self {
        let (verdict, reason) = match &record.verdict {
            Verdict::Accepted => ("accepted", None),
            Verdict::Duplicate => ("duplicate", None),
            Verdict::Rejected(reason) => ("rejected", Some(reason.code())),
        };
        let (body, body_base64) = match String::from_utf8(record.body) {
            Ok(text) => (Some(text), None),
            Err(bytes) => (None, Some(STANDARD.encode(bytes.into_bytes()))),
        };
        let (app_msg_id, app_forward_error) = match record.app_forward {
            None => (None, None),
            Some(AppForward::Forwarded(msg_id)) => (Some(msg_id), None),
            Some(reason) => (None, reason.error_code()),
        };
        InboundRequestOut {
            app_msg_id,
            app_forward_error,
            id: record.id,
            received_at: record.received_at,
            verdict,
            reason,
            msg_id: record.msg_id,
            dedupe_key: record.dedupe_key,
            headers: record.headers,
            body,
            body_base64,
        }
    }
}

/// `GET /ingest/api/v1/source/{source_id}/request`: newest first unless `order=ascending`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(source_id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> ApiResult<Json<ListResponse<InboundRequestOut>>> {
    let page = page.request(Order::Descending);
    let requests = inbound::list_requests(&ctx.ops, &principal, &source_id, page).await?;
    Ok(Json(render_page(requests, InboundRequestOut::from)))
}

/// `GET /ingest/api/v1/source/{source_id}/request/{request_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, request_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<InboundRequestOut>> {
    let record = inbound::get_request(&ctx.ops, &principal, &source_id, &request_id).await?;
    Ok(Json(record.into()))
}

/// `POST /ingest/api/v1/source/{source_id}/request/{request_id}/replay`: 202.
pub async fn replay(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((source_id, request_id)): ApiPath<(String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    inbound::replay_request(&ctx.ops, &principal, &source_id, &request_id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}
