//! `GET /app/{app_id}/endpoint/{endpoint_id}/msg` (Svix
//! `message_attempt.list_attempted_messages`): the messages an endpoint was sent, newest first,
//! each with where it stands there (the pair's latest delivery decides, as in
//! `list_attempted_destinations`).

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use utoipa::openapi::{RefOr, schema::Schema};

use super::ApiContext;
use super::error::ApiResult;
use super::lookup_first::input_after_lookup;
use super::message_filter::MessageFilterQuery;
use super::message_logs::svix_status;
use super::messages::MessageOut;
use super::openapi::schemas;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, OpenQuery, QueryPart, QueryValue, flag, integer, optional, yes};
use crate::domain::{DeliveryStatus, Timestamp};
use crate::ops::{AppRef, Named, Principal, delivery_logs};
use crate::store::Order;
use crate::store::endpoint_logs::EndpointMessageFilter;
use crate::store::logs::DeliveryState;

/// A message an endpoint was sent (Svix `EndpointMessageOut`): the message's fields plus its
/// `status` there; parked shows as `2` (`fail`) with the hookd extension `"parked": true`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EndpointMessageOut {
    #[serde(flatten)]
    pub message: MessageOut,
    pub status: u8,
    pub status_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt: Option<Timestamp>,
    /// hookd extension: the delivery waits behind a disabled endpoint.
    pub parked: bool,
}

/// The query beside paging and the message filters: the delivery's status and how to render.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EndpointMessageQuery {
    /// 0 success, 1 pending, 2 fail, 3 sending, 4 canceled (never, in hookd).
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    status: Option<MessageStatusFilter>,
    /// Accepted as the SDK sends it; hookd has no canceled deliveries to show either way.
    #[serde(default = "yes", deserialize_with = "flag::<_, true>")]
    expanded_statuses: bool,
    /// `false` renders each payload as `{}`.
    #[serde(default = "yes", deserialize_with = "flag::<_, true>")]
    with_content: bool,
}

/// Svix's `MessageStatus` as a filter: a delivery status, or canceled (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct MessageStatusFilter(Option<DeliveryStatus>);

impl QueryValue for MessageStatusFilter {
    fn parse_query(text: &str) -> Result<Self, String> {
        match integer::<i64>(text)? {
            code @ 0..=3 => Ok(MessageStatusFilter(Some(DeliveryStatus::from_code(code)))),
            4 => Ok(MessageStatusFilter(None)),
            _ => Err(
                "status must be 0 (success), 1 (pending), 2 (fail), 3 (sending) or 4 (canceled)"
                    .to_owned(),
            ),
        }
    }
}

impl utoipa::PartialSchema for MessageStatusFilter {
    fn schema() -> RefOr<Schema> {
        schemas::integer_enum(&[0, 1, 2, 3, 4])
    }
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/msg`: filtered by `status`, `event_types`,
/// `channel`, `tag`, `before`, `after` (the message's time), paged by message id.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    page: QueryPart<PageQuery>,
    messages: QueryPart<MessageFilterQuery>,
    query: QueryPart<EndpointMessageQuery>,
) -> ApiResult<Json<ListResponse<EndpointMessageOut>>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let (page, messages, query) =
        input_after_lookup(&ctx, &principal, named, (page, messages, query).open()).await?;
    // `expanded_statuses` changes nothing: with no canceled delivery, no status 4 turns into 0.
    let _ = query.expanded_statuses;
    let status = query.status.map(|MessageStatusFilter(status)| status);
    let filter = EndpointMessageFilter {
        messages: messages.filter(),
        status: status.flatten(),
        only_canceled: status.is_some_and(|status| status.is_none()),
    };
    let with_content = query.with_content;
    let listed = delivery_logs::list_endpoint_messages(
        &ctx.ops,
        &principal,
        &app_id,
        &endpoint_id,
        filter,
        page.request(Order::Descending),
        with_content,
    )
    .await?;
    Ok(Json(render_page(listed, |item| {
        let status = svix_status(item.state);
        EndpointMessageOut {
            message: MessageOut::render(item.message, with_content),
            status: status as u8,
            status_text: status.text(),
            next_attempt: item.next_attempt_at,
            parked: item.state == DeliveryState::Parked,
        }
    })))
}
