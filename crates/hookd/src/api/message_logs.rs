//! The delivery log of one message: where it went (`/msg/{msg}/endpoint`, Svix
//! `list_attempted_destinations`), one attempt (`/msg/{msg}/attempt/{attempt}`, Svix
//! `message_attempt.get`), and removing its content (`DELETE /msg/{msg}/content`, Svix
//! `expunge_content`).
//!
//! Reads only; the one write, expunging, removes the payload and keeps every other record.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::ApiContext;
use super::applications::find_application;
use super::attempts::MessageAttemptOut;
use super::endpoints::EndpointOut;
use super::error::{ApiError, ApiResult};
use super::messages::{MessageOut, find_message};
use super::pagination::{ListResponse, page_request};
use super::params::{ApiPath, QueryParams};
use crate::domain::{DeliveryStatus, Timestamp};
use crate::store::Order;
use crate::store::logs::DeliveryState;

/// One endpoint a message was sent to (Svix `MessageEndpointOut`): the endpoint's fields plus
/// where the message stands there. A parked delivery (its endpoint was disabled) is Svix status
/// 2 (`fail`) with the hookd extension `"parked": true`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    pub status: u8,
    pub status_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt: Option<Timestamp>,
    /// hookd extension: the delivery waits behind a disabled endpoint.
    pub parked: bool,
}

/// Svix's status for a delivery state: parked shows as failed (and `parked: true`).
pub fn svix_status(state: DeliveryState) -> DeliveryStatus {
    match state {
        DeliveryState::Success => DeliveryStatus::Success,
        DeliveryState::Pending => DeliveryStatus::Pending,
        DeliveryState::Sending => DeliveryStatus::Sending,
        DeliveryState::Failed | DeliveryState::Parked => DeliveryStatus::Fail,
    }
}

/// `DELETE /app/{app_id}/msg/{msg_id}/content`: removes the payload; 204. Deliveries still
/// pending then fail as "message content was expunged", and reads show `payload: {}`.
pub async fn expunge_content(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let app = find_application(&ctx, &app_id).await?;
    let message = find_message(&ctx, &app.id, &msg_id).await?;
    if !ctx
        .store
        .expunge_message_content(&app.id, &message.id)
        .await?
    {
        return Err(ApiError::NotFound("message not found"));
    }
    tracing::info!(app_id = %app.id, msg_id = %message.id, "message content expunged");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /app/{app_id}/msg/{msg_id}/endpoint`: the endpoints the message was sent to, by
/// endpoint id, each with the state of its latest delivery.
pub async fn list_destinations(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let app = find_application(&ctx, &app_id).await?;
    let message = find_message(&ctx, &app.id, &msg_id).await?;
    let page = page_request(&query, Order::Ascending)?;
    let destinations = ctx
        .store
        .list_message_destinations(&app.id, &message.id, page)
        .await?;
    let mut data = Vec::with_capacity(destinations.items.len());
    for destination in destinations.items {
        // Deleting an endpoint deletes its deliveries, so a miss is only a concurrent delete.
        let Some(endpoint) = ctx
            .store
            .get_endpoint(&app.id, destination.endpoint_id.as_str())
            .await?
        else {
            continue;
        };
        let status = svix_status(destination.state);
        data.push(MessageEndpointOut {
            endpoint: EndpointOut::from(endpoint),
            status: status as u8,
            status_text: status.text(),
            next_attempt: destination.next_attempt_at,
            parked: destination.state == DeliveryState::Parked,
        });
    }
    Ok(Json(ListResponse {
        data,
        iterator: destinations.iterator,
        prev_iterator: destinations.prev_iterator,
        done: destinations.done,
    }))
}

/// `GET /app/{app_id}/msg/{msg_id}/attempt/{attempt_id}`: one attempt of the message;
/// `with_msg=true` includes the message (with its payload unless `with_content=false`).
pub async fn get_attempt(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, msg_id, attempt_id)): ApiPath<(String, String, String)>,
    query: QueryParams,
) -> ApiResult<Json<MessageAttemptOut>> {
    let app = find_application(&ctx, &app_id).await?;
    let message = find_message(&ctx, &app.id, &msg_id).await?;
    let attempt = ctx
        .store
        .get_attempt(&app.id, &attempt_id)
        .await?
        .filter(|attempt| attempt.msg_id == message.id)
        .ok_or(ApiError::NotFound("attempt not found"))?;
    let msg = query
        .flag("with_msg", false)?
        .then(|| query.flag("with_content", true))
        .transpose()?
        .map(|with_content| MessageOut::render(message, with_content));
    Ok(Json(MessageAttemptOut::render(attempt, msg)))
}
