//! Erasure for compliance (Svix `message.bulk_expunge_content`,
//! `message.expunge_all_contents`, `message_attempt.expunge_content`): what `ops::erasure`
//! removes, as Svix's SDK calls it.
//!
//! `/msg/bulk-expunge` and `/msg/expunge-all-contents` are literal segments where
//! `/msg/{msg_id}` takes a message id or uid, and a uid may be either word: the router picks the
//! literal route, so each also answers `GET` with the message of that uid, as `/msg/{msg_id}`
//! would.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::background_tasks::BackgroundTaskOut;
use super::error::ApiResult;
use super::json::ValidJson;
use super::messages::{MessageOut, WithContentQuery};
use super::params::{ApiPath, ApiQuery};
use crate::ops::erasure::{self, BulkExpungeStatus};
use crate::ops::{Principal, messages};

/// The literal segment of `POST /msg/bulk-expunge`, also a possible message uid.
pub const BULK_EXPUNGE: &str = "bulk-expunge";
/// The literal segment of `POST /msg/expunge-all-contents`, also a possible message uid.
pub const EXPUNGE_ALL_CONTENTS: &str = "expunge-all-contents";

/// Svix's `BulkExpungeContentsIn`: message ids or uids (a set: a repeated one counts once).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BulkExpungeContentsIn {
    ids: Option<Vec<String>>,
}

/// Svix's `BulkExpungeContentsOut`: for each id or uid asked, `expunged` or `not-found`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BulkExpungeContentsOut {
    #[schema(value_type = BTreeMap<String, String>)]
    results: BTreeMap<String, &'static str>,
}

/// `POST /app/{app_id}/msg/bulk-expunge`: removes the payloads of the named messages at once
/// (at most `ops::erasure::BULK_EXPUNGE_MAX_IDS`); 200 with each name's result.
pub async fn bulk_expunge(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ValidJson(input): ValidJson<BulkExpungeContentsIn>,
) -> ApiResult<Json<BulkExpungeContentsOut>> {
    let mut names = input.ids.unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    names.retain(|name| seen.insert(name.clone()));
    let results = erasure::bulk_expunge(&ctx.ops, &principal, &app_id, names).await?;
    let results = results
        .into_iter()
        .map(|(name, status)| {
            let status = match status {
                BulkExpungeStatus::Expunged => "expunged",
                BulkExpungeStatus::NotFound => "not-found",
            };
            (name, status)
        })
        .collect();
    Ok(Json(BulkExpungeContentsOut { results }))
}

/// `POST /app/{app_id}/msg/expunge-all-contents`: starts `application.purge_content`, which
/// removes every message payload of the application in batches; 202 with the task.
pub async fn expunge_all(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
) -> ApiResult<(StatusCode, Json<BackgroundTaskOut>)> {
    let task = erasure::expunge_all(&ctx.ops, &principal, &app_id).await?;
    Ok((StatusCode::ACCEPTED, Json(BackgroundTaskOut::render(task))))
}

/// `DELETE /app/{app_id}/msg/{msg_id}/attempt/{attempt_id}/content`: empties the attempt's
/// stored response body; 204.
pub async fn expunge_attempt(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id, attempt_id)): ApiPath<(String, String, String)>,
) -> ApiResult<StatusCode> {
    erasure::expunge_attempt(&ctx.ops, &principal, &app_id, &msg_id, &attempt_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /app/{app_id}/msg/bulk-expunge`: the message whose uid is `bulk-expunge`.
pub async fn get_bulk_expunge_uid(
    ctx: State<ApiContext>,
    principal: Extension<Principal>,
    app_id: ApiPath<String>,
    query: ApiQuery<WithContentQuery>,
) -> ApiResult<Json<MessageOut>> {
    message_of_uid(ctx, principal, app_id, query, BULK_EXPUNGE).await
}

/// `GET /app/{app_id}/msg/expunge-all-contents`: the message whose uid is
/// `expunge-all-contents`.
pub async fn get_expunge_all_contents_uid(
    ctx: State<ApiContext>,
    principal: Extension<Principal>,
    app_id: ApiPath<String>,
    query: ApiQuery<WithContentQuery>,
) -> ApiResult<Json<MessageOut>> {
    message_of_uid(ctx, principal, app_id, query, EXPUNGE_ALL_CONTENTS).await
}

async fn message_of_uid(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WithContentQuery>,
    uid: &str,
) -> ApiResult<Json<MessageOut>> {
    let message = messages::get(&ctx.ops, &principal, &app_id, uid).await?;
    Ok(Json(MessageOut::render(message, query.with_content)))
}
