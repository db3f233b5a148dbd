//! Svix's `message.poller`: a polling endpoint's messages pulled with a cursor
//! (`ops::polling`). `GET /app/{app_id}/poller/{sink_id}` pages with the client's own iterator;
//! `.../consumer/{consumer_id}` keeps the iterator on the server for a named consumer, and
//! `.../consumer/{consumer_id}/seek` moves it to a time. Bad iterators, limits and consumer ids
//! are 422s naming the parameter; a sink that is not a polling endpoint is a 404.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::API_PREFIX;
use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::messages::MessageOut;
use super::params::{ApiPath, OpenQuery, QueryPart, QueryValue, integer, optional};
use super::scoped_routes::{
    Need::WholeApplication,
    Scope::{AppRead, AppWrite},
    ScopedRoutes, get, post,
};
use crate::domain::polling::{ConsumerId, PollIterator, PollLimit};
use crate::domain::{ChannelName, EventTypeName, Timestamp};
use crate::ops::polling::{self, PollFilter, PollPage};
use crate::ops::{AppRef, Named, OpError, Principal};

/// The poller's routes, mounted under `/api/v1` with the others.
pub fn routes() -> ScopedRoutes {
    let sink = "/app/{app_id}/poller/{sink_id}";
    ScopedRoutes::new(API_PREFIX)
        .route(sink, get(AppRead, poll))
        .route(
            &format!("{sink}/consumer/{{consumer_id}}"),
            get(AppRead, consumer_poll),
        )
        .route(
            &format!("{sink}/consumer/{{consumer_id}}/seek"),
            post(AppWrite(WholeApplication), consumer_seek),
        )
}

impl QueryValue for PollIterator {
    fn parse_query(text: &str) -> Result<Self, String> {
        PollIterator::parse(text).map_err(|error| error.message)
    }
}

impl QueryValue for PollLimit {
    fn parse_query(text: &str) -> Result<Self, String> {
        PollLimit::parse(integer(text)?).map_err(|error| error.message)
    }
}

/// `GET /app/{app_id}/poller/{sink_id}`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PollQuery {
    /// At most this many messages (1 to 250, 50 when absent).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 250)]
    limit: Option<PollLimit>,
    /// The iterator a previous poll returned; absent starts at the endpoint's beginning.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>)]
    iterator: Option<PollIterator>,
    /// Only messages of this event type (besides the endpoint's own filter).
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    event_type: Option<EventTypeName>,
    /// Only messages on this channel (besides the endpoint's own filter).
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    channel: Option<ChannelName>,
    /// Only messages created after this time; without an iterator, the poll starts there.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, format = DateTime)]
    after: Option<Timestamp>,
}

/// `GET /app/{app_id}/poller/{sink_id}/consumer/{consumer_id}`'s query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsumerPollQuery {
    /// At most this many messages (1 to 250, 50 when absent).
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 250)]
    limit: Option<PollLimit>,
    /// The iterator of the page this consumer has handled: committed as its position before
    /// the next page is read. Absent: the page after the position it committed last.
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>)]
    iterator: Option<PollIterator>,
}

/// A page of a polling endpoint (Svix `PollingEndpointOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PollingEndpointOut {
    /// The messages, in the order they were committed.
    pub data: Vec<MessageOut>,
    /// Where the next poll goes on (send it back as `iterator`).
    pub iterator: String,
    /// Nothing more is there past `iterator` for now: poll again later.
    pub done: bool,
}

impl PollingEndpointOut {
    fn render(page: PollPage) -> Self {
        PollingEndpointOut {
            data: page
                .messages
                .into_iter()
                .map(|message| MessageOut::render(message, true))
                .collect(),
            iterator: page.iterator.encode(),
            done: page.done,
        }
    }
}

/// `POST .../consumer/{consumer_id}/seek`'s body (Svix `PollingEndpointConsumerSeekIn`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PollingEndpointConsumerSeekIn {
    /// The consumer goes on with the first message created after this time.
    #[schema(value_type = String, format = DateTime)]
    pub after: Timestamp,
}

/// The seek's answer (Svix `PollingEndpointConsumerSeekOut`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PollingEndpointConsumerSeekOut {
    /// The consumer's position now, as an iterator.
    pub iterator: String,
}

async fn poll(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, sink_id)): ApiPath<(String, String)>,
    query: QueryPart<PollQuery>,
) -> ApiResult<Json<PollingEndpointOut>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &sink_id);
    let query = input_after_lookup(&ctx, &principal, named, query.open()).await?;
    let filter = PollFilter {
        event_type: query.event_type,
        channel: query.channel,
        after: query.after,
    };
    let limit = query.limit.unwrap_or(PollLimit::DEFAULT);
    let page = polling::poll(
        &ctx.ops,
        &principal,
        &app_id,
        &sink_id,
        query.iterator,
        filter,
        limit,
    )
    .await?;
    Ok(Json(PollingEndpointOut::render(page)))
}

async fn consumer_poll(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, sink_id, consumer_id)): ApiPath<(String, String, String)>,
    query: QueryPart<ConsumerPollQuery>,
) -> ApiResult<Json<PollingEndpointOut>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &sink_id);
    let input = query
        .open()
        .and_then(|query| Ok((parse_consumer(&consumer_id)?, query)));
    let (consumer, query) = input_after_lookup(&ctx, &principal, named, input).await?;
    let limit = query.limit.unwrap_or(PollLimit::DEFAULT);
    let page = polling::consumer_poll(
        &ctx.ops,
        &principal,
        &app_id,
        &sink_id,
        &consumer,
        query.iterator,
        limit,
    )
    .await?;
    Ok(Json(PollingEndpointOut::render(page)))
}

async fn consumer_seek(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, sink_id, consumer_id)): ApiPath<(String, String, String)>,
    ValidJson(input): ValidJson<PollingEndpointConsumerSeekIn>,
) -> ApiResult<Json<PollingEndpointConsumerSeekOut>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &sink_id);
    let consumer =
        input_after_lookup(&ctx, &principal, named, parse_consumer(&consumer_id)).await?;
    let iterator = polling::consumer_seek(
        &ctx.ops,
        &principal,
        &app_id,
        &sink_id,
        &consumer,
        input.after,
    )
    .await?;
    Ok(Json(PollingEndpointConsumerSeekOut {
        iterator: iterator.encode(),
    }))
}

fn parse_consumer(consumer_id: &str) -> ApiResult<ConsumerId> {
    ConsumerId::parse(consumer_id)
        .map_err(|error| ApiError::from(OpError::invalid_path("consumer_id", error.message)))
}
