//! The dead-letter view (a hookd extension; Svix has none): every message/endpoint pair whose
//! latest delivery ended failed (retries used up) or is parked behind a disabled endpoint.
//!
//! `GET /app/{app}/dead-letter` lists them newest first, paged like every list and filtered by
//! `endpoint_id`, `event_types`, `before`, `after` (the message's time);
//! `GET /app/{app}/dead-letter/summary` counts them per endpoint and per event type. Fixing one
//! is a resend (`/msg/{msg}/endpoint/{ep}/resend`), which makes the pair pending again.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;

use super::ApiContext;
use super::attempts::named_endpoint;
use super::error::ApiResult;
use super::lookup_first::input_after_lookup;
use super::message_filter::{EndpointFilterQuery, MessageFilterQuery};
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, OpenQuery, QueryPart};
use crate::domain::{EndpointId, EventTypeName, MessageId, Timestamp};
use crate::ops::{AppRef, Named, Principal, delivery_logs};
use crate::store::Order;
use crate::store::logs::{DeadLetter, DeadLetterCount, DeadLetterFilter, DeadLetterSummary};

/// One dead letter.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterOut {
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub event_type: EventTypeName,
    /// `fail` (retries used up) or `parked` (the endpoint is disabled).
    pub status_text: &'static str,
    /// Attempts made by the latest delivery of the pair.
    pub attempts: u32,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_attempt: Option<Timestamp>,
    /// The message's time.
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Timestamp,
}

impl From<DeadLetter> for DeadLetterOut {
    fn from(letter: DeadLetter) -> Self {
        DeadLetterOut {
            msg_id: letter.msg_id,
            endpoint_id: letter.endpoint_id,
            event_type: letter.event_type,
            status_text: if letter.parked { "parked" } else { "fail" },
            attempts: letter.attempts_made,
            last_attempt: letter.last_attempt_at,
            timestamp: letter.message_created_at,
        }
    }
}

#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CountOut {
    pub fail: u64,
    pub parked: u64,
    pub total: u64,
}

impl From<&DeadLetterCount> for CountOut {
    fn from(count: &DeadLetterCount) -> Self {
        CountOut {
            fail: count.failed,
            parked: count.parked,
            total: count.failed + count.parked,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetterSummaryOut {
    pub total: CountOut,
    pub by_endpoint: BTreeMap<String, CountOut>,
    pub by_event_type: BTreeMap<String, CountOut>,
}

/// `GET /app/{app_id}/dead-letter`
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    page: QueryPart<PageQuery>,
    messages: QueryPart<MessageFilterQuery>,
    endpoint: QueryPart<EndpointFilterQuery>,
) -> ApiResult<Json<ListResponse<DeadLetterOut>>> {
    let filter_endpoint = named_endpoint(&endpoint);
    let named = Named {
        filter_endpoint: filter_endpoint.as_deref(),
        ..Named::app(AppRef::Named(&app_id))
    };
    let query = (page, messages, endpoint).open();
    let (page, messages, endpoint) = input_after_lookup(&ctx, &principal, named, query).await?;
    // The message filters parse as on the message list; the view uses the event types and
    // the messages' time window.
    let by_message = messages.filter();
    let filter = DeadLetterFilter {
        endpoint_id: None,
        event_types: by_message.event_types,
        before: by_message.before,
        after: by_message.after,
    };
    let page = page.request(Order::Descending);
    let endpoint = endpoint.endpoint_id.as_deref();
    let letters =
        delivery_logs::list_dead_letters(&ctx.ops, &principal, &app_id, endpoint, filter, page)
            .await?;
    Ok(Json(render_page(letters, DeadLetterOut::from)))
}

/// `GET /app/{app_id}/dead-letter/summary`
pub async fn summary(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
) -> ApiResult<Json<DeadLetterSummaryOut>> {
    let groups = delivery_logs::count_dead_letters(&ctx.ops, &principal, &app_id).await?;
    let summary = DeadLetterSummary::from_groups(&groups);
    let render = |counts: &BTreeMap<String, DeadLetterCount>| {
        counts
            .iter()
            .map(|(key, count)| (key.clone(), CountOut::from(count)))
            .collect()
    };
    Ok(Json(DeadLetterSummaryOut {
        total: CountOut::from(&summary.total),
        by_endpoint: render(&summary.by_endpoint),
        by_event_type: render(&summary.by_event_type),
    }))
}
