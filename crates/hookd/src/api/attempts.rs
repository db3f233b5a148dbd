//! Delivery attempts: listing them by message or by endpoint, and resending a message.
//!
//! Attempts are recorded by the delivery engine; this module only reads them and queues manual
//! resends, which the dispatcher is woken to pick up at once.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};

use super::ApiContext;
use super::applications::find_application;
use super::endpoints::find_endpoint;
use super::error::{ApiError, ApiResult};
use super::messages::{MessageOut, find_message, message_filter};
use super::pagination::{
    LIST_PAYLOAD_BUDGET, ListResponse, end_page_after, is_backwards, page_request, render_page,
};
use super::params::{ApiPath, QueryParams};
use crate::domain::{
    AppId, Attempt, AttemptId, DeliveryStatus, EndpointId, Message, MessageId, Timestamp,
};
use crate::store::{AttemptFilter, Order, Page};

/// An attempt as Svix renders it (`MessageAttemptOut`); `status` and `triggerType` are Svix's
/// integers.
#[derive(Debug, Serialize)]
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
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let app = find_application(&ctx, &app_id).await?;
    let message = find_message(&ctx, &app.id, &msg_id).await?;
    let filter = attempt_filter(&ctx, &app.id, &query).await?;
    let page = page_request(&query, Order::Descending)?;
    let attempts = ctx
        .store
        .list_attempts(&app.id, Some(&message.id), filter, page)
        .await?;
    let messages = HashMap::from([(message.id.clone(), message)]);
    Ok(Json(render_attempts(attempts, &messages, &query)?))
}

/// `GET /app/{app_id}/attempt/endpoint/{endpoint_id}`: the attempts made to one endpoint,
/// newest first, with the same filters.
pub async fn list_by_endpoint(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    query: QueryParams,
) -> ApiResult<Json<ListResponse<MessageAttemptOut>>> {
    let (app, endpoint) = find_endpoint(&ctx, &app_id, &endpoint_id).await?;
    let mut filter = attempt_filter(&ctx, &app.id, &query).await?;
    filter.endpoint_id = Some(endpoint.id);
    let page = page_request(&query, Order::Descending)?;
    let backwards = is_backwards(&page);
    let mut attempts = ctx.store.list_attempts(&app.id, None, filter, page).await?;
    let messages = if query.flag("with_msg", false)? {
        messages_of(&ctx, &app.id, &mut attempts, backwards).await?
    } else {
        HashMap::new()
    };
    Ok(Json(render_attempts(attempts, &messages, &query)?))
}

/// `POST /app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend`: queues a manual attempt,
/// due now. Answers 202 with `{}`, since the SDK cannot parse an empty body.
pub async fn resend(
    State(ctx): State<ApiContext>,
    ApiPath((app_id, msg_id, endpoint_id)): ApiPath<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let (app, endpoint) = find_endpoint(&ctx, &app_id, &endpoint_id).await?;
    let message = find_message(&ctx, &app.id, &msg_id).await?;
    let delivery_id = ctx
        .store
        .enqueue_resend(&app.id, &message.id, &endpoint.id, ctx.clock.now())
        .await?;
    tracing::info!(
        app_id = %app.id,
        msg_id = %message.id,
        endpoint_id = %endpoint.id,
        delivery_id = %delivery_id,
        "resend queued"
    );
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// The filters shared by both listings; `endpoint_id` may be an id or a uid.
async fn attempt_filter(
    ctx: &ApiContext,
    app_id: &AppId,
    query: &QueryParams,
) -> ApiResult<AttemptFilter> {
    let status = match query.number::<i64>("status")? {
        None => None,
        Some(code @ 0..=3) => Some(DeliveryStatus::from_code(code)),
        Some(_) => {
            return Err(ApiError::invalid_query(
                "status",
                "status must be 0 (success), 1 (pending), 2 (fail) or 3 (sending)",
            ));
        }
    };
    let endpoint_id = match query.get("endpoint_id") {
        None => None,
        Some(id_or_uid) => {
            let endpoint = ctx
                .store
                .get_endpoint(app_id, id_or_uid)
                .await?
                .ok_or(ApiError::NotFound("endpoint not found"))?;
            Some(endpoint.id)
        }
    };
    let status_code_class = match query.number::<u16>("status_code_class")? {
        None => None,
        Some(class @ (0 | 100 | 200 | 300 | 400 | 500)) => Some(class),
        Some(_) => {
            return Err(ApiError::invalid_query(
                "status_code_class",
                "status_code_class must be 0, 100, 200, 300, 400 or 500",
            ));
        }
    };
    // The message filters (event types, channel, tag) parse exactly as on the message list.
    let by_message = message_filter(query)?;
    Ok(AttemptFilter {
        status,
        status_code_class,
        endpoint_id,
        event_types: by_message.event_types,
        channel: by_message.channel,
        tag: by_message.tag,
        before: query.timestamp("before")?,
        after: query.timestamp("after")?,
    })
}

/// The messages of a page of attempts, each read once. Their payloads add up to at most
/// `LIST_PAYLOAD_BUDGET`: a forward page ends early at the attempt whose message passes it (at
/// least one attempt is always kept); a backward page keeps its attempts and shows no more
/// messages past the budget.
async fn messages_of(
    ctx: &ApiContext,
    app_id: &AppId,
    attempts: &mut Page<Attempt>,
    backwards: bool,
) -> ApiResult<HashMap<MessageId, Message>> {
    let mut messages = HashMap::new();
    let mut payload_bytes = 0usize;
    let mut end_before = None;
    for (index, attempt) in attempts.items.iter().enumerate() {
        if messages.contains_key(&attempt.msg_id) {
            continue;
        }
        if payload_bytes >= LIST_PAYLOAD_BUDGET {
            end_before = Some(index);
            break;
        }
        if let Some(message) = ctx
            .store
            .get_message(app_id, attempt.msg_id.as_str())
            .await?
        {
            payload_bytes += message.payload.as_ref().map_or(0, String::len);
            messages.insert(message.id.clone(), message);
        }
    }
    if let Some(index) = end_before.filter(|_| !backwards) {
        end_page_after(attempts, index, |attempt| attempt.id.to_string());
    }
    Ok(messages)
}

/// Renders a page; `msg` is included when `with_msg=true` and the message is known.
fn render_attempts(
    attempts: Page<Attempt>,
    messages: &HashMap<MessageId, Message>,
    query: &QueryParams,
) -> ApiResult<ListResponse<MessageAttemptOut>> {
    let with_msg = query.flag("with_msg", false)?;
    let with_content = query.flag("with_content", true)?;
    Ok(render_page(attempts, |attempt| {
        let msg = messages
            .get(&attempt.msg_id)
            .filter(|_| with_msg)
            .map(|message| MessageOut::render(message.clone(), with_content));
        MessageAttemptOut::render(attempt, msg)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventTypeName, TriggerType};
    use crate::policy::outcome::FailureCode;

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
            failure_code: Some(FailureCode::HttpStatus.into()),
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
        let list = render_attempts(page, &messages, &QueryParams::parse(query)).unwrap();
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
