//! The delivery log of one message: where it went (`/msg/{msg}/endpoint`, Svix
//! `list_attempted_destinations`), one attempt (`/msg/{msg}/attempt/{attempt}`, Svix
//! `message_attempt.get`), and removing its content (`DELETE /msg/{msg}/content`, Svix
//! `expunge_content`).
//!
//! Reads only; the one write, expunging, removes the payload and keeps every other record.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Serialize;

use super::ApiContext;
use super::attempts::{AttemptRender, MessageAttemptOut};
use super::endpoints::EndpointOut;
use super::error::ApiResult;
use super::lookup_first::input_after_lookup;
use super::messages::MessageOut;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, ApiQuery, OpenQuery, QueryPart};
use crate::domain::{DeliveryStatus, Timestamp};
use crate::ops::{AppRef, Named, Principal, delivery_logs};
use crate::store::Order;
use crate::store::logs::DeliveryState;

/// One endpoint a message was sent to (Svix `MessageEndpointOut`): the endpoint's fields plus
/// where the message stands there. A parked delivery (its endpoint was disabled) is Svix status
/// 2 (`fail`) with the hookd extension `"parked": true`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageEndpointOut {
    #[serde(flatten)]
    pub endpoint: EndpointOut,
    pub status: u8,
    pub status_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
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
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    delivery_logs::expunge_content(&ctx.ops, &principal, &app_id, &msg_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /app/{app_id}/msg/{msg_id}/endpoint`: the endpoints the message was sent to, by
/// endpoint id, each with the state of its latest delivery.
pub async fn list_destinations(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
    query: QueryPart<PageQuery>,
) -> ApiResult<Json<ListResponse<MessageEndpointOut>>> {
    let named = Named::message(AppRef::Named(&app_id), &msg_id);
    let page = input_after_lookup(&ctx, &principal, named, query.open())
        .await?
        .request(Order::Ascending);
    let destinations =
        delivery_logs::list_destinations(&ctx.ops, &principal, &app_id, &msg_id, page).await?;
    Ok(Json(render_page(
        destinations,
        |(destination, endpoint)| {
            let status = svix_status(destination.state);
            MessageEndpointOut {
                endpoint: EndpointOut::from(endpoint),
                status: status as u8,
                status_text: status.text(),
                next_attempt: destination.next_attempt_at,
                parked: destination.state == DeliveryState::Parked,
            }
        },
    )))
}

/// `GET /app/{app_id}/msg/{msg_id}/attempt/{attempt_id}`: one attempt of the message;
/// `with_msg=true` includes the message (with its payload unless `with_content=false`).
pub async fn get_attempt(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id, attempt_id)): ApiPath<(String, String, String)>,
    query: QueryPart<AttemptRender>,
) -> ApiResult<Json<MessageAttemptOut>> {
    let (attempt, message) =
        delivery_logs::get_attempt(&ctx.ops, &principal, &app_id, &msg_id, &attempt_id).await?;
    // Opened once the attempt is found, so a missing one is 404 whatever the query says.
    let ApiQuery(render) = query?;
    let msg = render
        .with_msg
        .then(|| MessageOut::render(message, render.with_content));
    Ok(Json(MessageAttemptOut::render(attempt, msg)))
}
