//! Delivery attempts: listing them by message or by endpoint, and resending a message.
//!
//! Attempts are recorded by the engine; the operations (`ops::attempts`) read them and queue
//! manual resends; this module parses the filters and renders Svix's shapes.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use utoipa::openapi::{RefOr, schema::Schema};

use super::ApiContext;
use super::error::ApiResult;
use super::lookup_first::input_after_lookup;
use super::message_filter::{EndpointFilterQuery, MessageFilterQuery};
use super::messages::MessageOut;
use super::openapi::schemas;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{
    ApiPath, ApiQuery, OpenQuery, QueryPart, QueryValue, flag, integer, optional, yes,
};
use crate::domain::{
    Attempt, AttemptId, DeliveryStatus, EndpointId, Message, MessageId, Timestamp,
};
use crate::ops::attempts::{self, AttemptQuery};
use crate::ops::{AppRef, Named, Principal};
use crate::store::{AttemptFilter, Order, Page};

/// An attempt as Svix renders it (`MessageAttemptOut`); `status` and `triggerType` are Svix's
/// integers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageAttemptOut {
    pub id: AttemptId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub url: String,
    pub response: String,
    pub response_status_code: u16,
    pub response_duration_ms: u64,
    pub status: u8,
    pub status_text: &'static str,
    pub trigger_type: u8,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Timestamp,
    /// hookd's stable failure code (`timeout`, `connect`, `http_status`, `ssrf_blocked`, ...);
    /// absent on success. Not in Svix's model; clients ignore it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_code: Option<String>,
    /// hookd extension: the request headers as sent, credentials redacted, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<(String, String)>,
    /// hookd extension: the response headers as received, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<(String, String)>,
    /// hookd extension: the node that made the attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    /// The attempted message, when the client asked for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<MessageOut>,
}

impl MessageAttemptOut {
    pub fn render(attempt: Attempt, msg: Option<MessageOut>) -> Self {
        MessageAttemptOut {
            id: attempt.id,
            msg_id: attempt.msg_id,
            endpoint_id: attempt.endpoint_id,
            url: attempt.url,
            response: attempt.response,
            response_status_code: attempt.response_status_code,
            response_duration_ms: attempt.response_duration_ms,
            status: attempt.status as u8,
            status_text: attempt.status.text(),
            trigger_type: attempt.trigger_type as u8,
            timestamp: attempt.created_at,
            failure_code: attempt.failure_code.map(|code| code.as_str().to_owned()),
            request_headers: attempt.details.request_headers,
            response_headers: attempt.details.response_headers,
            node_id: attempt.details.node_id,
            msg,
        }
    }
}

/// `GET /app/{app_id}/attempt/msg/{msg_id}`: the attempts to deliver one message, newest
/// first, filtered by `status`, `endpoint_id`, `before`, `after`.
pub async fn list_by_message(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
    query: AttemptListQuery,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let (_, _, _, endpoint_part, _) = &query;
    let filter_endpoint = named_endpoint(endpoint_part);
    let named = Named {
        filter_endpoint: filter_endpoint.as_deref(),
        ..Named::message(AppRef::Named(&app_id), &msg_id)
    };
    let (page, messages, filters, endpoint, render) =
        input_after_lookup(&ctx, &principal, named, query.open()).await?;
    let filter = attempt_query(messages, filters, endpoint);
    let page = page.request(Order::Descending);
    let found =
        attempts::list_by_message(&ctx.ops, &principal, &app_id, &msg_id, filter, page).await?;
    Ok(Json(render_attempts(
        found.attempts,
        &found.messages,
        render,
    )))
}

/// `GET /app/{app_id}/attempt/endpoint/{endpoint_id}`: the attempts made to one endpoint,
/// newest first, with the same filters.
pub async fn list_by_endpoint(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    query: AttemptListQuery,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let (_, _, _, endpoint_part, _) = &query;
    let filter_endpoint = named_endpoint(endpoint_part);
    let named = Named {
        filter_endpoint: filter_endpoint.as_deref(),
        ..Named::endpoint(AppRef::Named(&app_id), &endpoint_id)
    };
    let (page, messages, filters, endpoint, render) =
        input_after_lookup(&ctx, &principal, named, query.open()).await?;
    let filter = attempt_query(messages, filters, endpoint);
    let page = page.request(Order::Descending);
    let found = attempts::list_by_endpoint(
        &ctx.ops,
        &principal,
        &app_id,
        &endpoint_id,
        filter,
        page,
        render.with_msg,
    )
    .await?;
    Ok(Json(render_attempts(
        found.attempts,
        &found.messages,
        render,
    )))
}

/// `POST /app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend`: queues a manual attempt,
/// due now. Answers 202 with `{}`, since the SDK cannot parse an empty body.
pub async fn resend(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id, endpoint_id)): ApiPath<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    attempts::resend(&ctx.ops, &principal, &app_id, &msg_id, &endpoint_id).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// The query of both attempt listings, in parts: paging, the message filters, the attempt's
/// own filters, one endpoint (`endpoint_id`, an id or a uid resolved by the operation) and
/// what to render.
pub type AttemptListQuery = (
    QueryPart<PageQuery>,
    QueryPart<MessageFilterQuery>,
    QueryPart<AttemptFilterQuery>,
    QueryPart<EndpointFilterQuery>,
    QueryPart<AttemptRender>,
);

/// The endpoint a listing's `endpoint_id` names, if that part of the query parsed: it is
/// looked up with the path's records before the rest of the query is judged.
pub fn named_endpoint(part: &QueryPart<EndpointFilterQuery>) -> Option<String> {
    part.as_ref()
        .ok()
        .and_then(|ApiQuery(filter)| filter.endpoint_id.clone())
}

/// The filters that only attempts have.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptFilterQuery {
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    status: Option<DeliveryStatus>,
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    status_code_class: Option<StatusCodeClass>,
}

/// Whether an attempt is rendered with its message, and that message with its payload.
#[derive(Debug, Clone, Copy, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttemptRender {
    #[serde(default, deserialize_with = "flag::<_, false>")]
    pub with_msg: bool,
    #[serde(default = "yes", deserialize_with = "flag::<_, true>")]
    pub with_content: bool,
}

/// The filters of an attempt listing, as the operation takes them.
fn attempt_query(
    messages: MessageFilterQuery,
    attempts: AttemptFilterQuery,
    endpoint: EndpointFilterQuery,
) -> AttemptQuery {
    let by_message = messages.filter();
    AttemptQuery {
        filter: AttemptFilter {
            status: attempts.status,
            status_code_class: attempts
                .status_code_class
                .map(|StatusCodeClass(class)| class),
            endpoint_id: None,
            event_types: by_message.event_types,
            channel: by_message.channel,
            tag: by_message.tag,
            before: by_message.before,
            after: by_message.after,
        },
        endpoint: endpoint.endpoint_id,
    }
}

/// Svix's attempt status filter: 0 (success), 1 (pending), 2 (fail) or 3 (sending).
impl QueryValue for DeliveryStatus {
    fn parse_query(text: &str) -> Result<Self, String> {
        match integer::<i64>(text)? {
            code @ 0..=3 => Ok(DeliveryStatus::from_code(code)),
            _ => Err("status must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)".to_owned()),
        }
    }
}

impl utoipa::PartialSchema for DeliveryStatus {
    fn schema() -> RefOr<Schema> {
        schemas::integer_enum(&[0, 1, 2, 3])
    }
}

/// The hundreds of a response status (0 for no response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StatusCodeClass(u16);

impl QueryValue for StatusCodeClass {
    fn parse_query(text: &str) -> Result<Self, String> {
        match integer::<u16>(text)? {
            class @ (0 | 100 | 200 | 300 | 400 | 500) => Ok(StatusCodeClass(class)),
            _ => Err("status_code_class must be 0, 100, 200, 300, 400 or 500".to_owned()),
        }
    }
}

impl utoipa::PartialSchema for StatusCodeClass {
    fn schema() -> RefOr<Schema> {
        schemas::integer_enum(&[0, 100, 200, 300, 400, 500])
    }
}

/// Renders a page; `msg` is included when `with_msg=true` and the message is known.
fn render_attempts(
    attempts: Page<Attempt>,
    messages: &HashMap<MessageId, Message>,
    render: AttemptRender,
) -> ListResponse<MessageAttemptOut> {
    render_page(attempts, |attempt| {
        let msg = messages
            .get(&attempt.msg_id)
            .filter(|_| render.with_msg)
            .map(|message| MessageOut::render(message.clone(), render.with_content));
        MessageAttemptOut::render(attempt, msg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AppId;
    use crate::domain::{EventTypeName, TriggerType};

    fn attempt() -> Attempt {
        Attempt {
            id: AttemptId::from_trusted("atmpt_1"),
            app_id: AppId::from_trusted("app_1"),
            msg_id: MessageId::from_trusted("msg_1"),
            endpoint_id: EndpointId::from_trusted("ep_1"),
            url: "https://example.com/hook".to_owned(),
            status: DeliveryStatus::Fail,
            response_status_code: 500,
            response: "oops".to_owned(),
            response_duration_ms: 12,
            failure_code: Some(crate::policy::outcome::FailureCode::HttpStatus.into()),
            trigger_type: TriggerType::Manual,
            created_at: chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
                .unwrap()
                .to_utc(),
            details: Default::default(),
        }
    }

    fn message() -> Message {
        Message {
            id: MessageId::from_trusted("msg_1"),
            app_id: AppId::from_trusted("app_1"),
            event_type: EventTypeName::parse("a").unwrap(),
            event_id: None,
            payload: Some("{\"k\":1}".to_owned()),
            channels: Vec::new(),
            tags: Vec::new(),
            deliver_at: None,
            created_at: attempt().created_at,
            content_type: None,
        }
    }

    fn rendered(query: &str) -> Value {
        let page = Page {
            items: vec![attempt()],
            iterator: None,
            prev_iterator: None,
            done: true,
        };
        let messages = HashMap::from([(message().id, message())]);
        let render = ApiQuery::<AttemptRender>::parse(query).unwrap();
        let list = render_attempts(page, &messages, render);
        serde_json::to_value(list).unwrap()["data"][0].clone()
    }

    #[test]
    fn attempts_render_svix_integers() {
        assert_eq!(
            rendered(""),
            json!({
                "id": "atmpt_1", "msgId": "msg_1", "endpointId": "ep_1",
                "url": "https://example.com/hook", "response": "oops",
                "responseStatusCode": 500, "responseDurationMs": 12,
                "status": 2, "statusText": "fail", "triggerType": 1,
                "timestamp": "2024-05-06T07:08:09Z", "failureCode": "http_status"
            })
        );
    }

    #[test]
    fn messages_are_included_on_request() {
        assert_eq!(rendered("with_msg=true")["msg"]["payload"], json!({"k": 1}));
        assert_eq!(
            rendered("with_msg=true&with_content=false")["msg"]["payload"],
            json!({})
        );
    }
}
