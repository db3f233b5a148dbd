//! `/api/v1/app/{app_id}/msg`: sending messages, and reading them back.
//!
//! Over 400 lines only with its table of parse tests (the code is under 270).
//!
//! Creating a message is the write path that matters: `ops::messages::accept` commits the
//! message with one delivery per matching endpoint before this module answers 202. The payload is the sender's bytes: the JSON text of `payload`, exactly as
//! it appears in the request body, is stored, signed, sent and returned by every read (as a raw
//! JSON value, never re-serialised); it is never logged.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::ApiContext;
use super::applications::ApplicationIn;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::message_filter::MessageFilterQuery;
use super::message_raw_payload::TransformationsParams;
use super::pagination::{ListResponse, PageQuery, render_page};
use super::params::{ApiPath, ApiQuery, OpenQuery, QueryPart, flag, yes};
use crate::domain::limits::{self, TAG};
use crate::domain::{ChannelName, EventTypeName, Message, MessageId, Timestamp, Uid};
use crate::domain::{MessagePayload, PayloadError};
use crate::ops::messages::{self, AcceptMessage};
use crate::ops::{AppRef, Named, Principal};
use crate::store::{CreatedMessageAnswer, Order};
use crate::telemetry::ErrorChain;

/// Most channels one message may be sent on (Svix's limit).
const MAX_CHANNELS: usize = 10;

/// The body of `POST .../msg` (Svix `MessageIn`). Unknown fields are ignored, as Svix clients
/// may send fields from newer API versions.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageIn {
    pub event_type: String,
    /// Any JSON object, as its text in the request body; a missing or `null` payload is
    /// refused.
    #[serde(default)]
    #[schema(value_type = Object, required = true)]
    pub payload: Option<Box<RawValue>>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// Schedules delivery for later (RFC 3339 with a time zone).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deliver_at: Option<Timestamp>,
    /// Creates the application inline when the path names one that does not exist.
    #[serde(default)]
    pub application: Option<ApplicationIn>,
    /// `rawPayload`, when given, is the payload instead of `payload` (the SDKs' `messageInRaw`).
    #[serde(default)]
    pub transformations_params: Option<TransformationsParams>,
}

impl MessageIn {
    pub fn parse(self) -> ApiResult<AcceptMessage> {
        let event_type = EventTypeName::parse(&self.event_type)
            .map_err(|error| ApiError::invalid_input(&["eventType"], error))?;
        let raw_payload = self
            .transformations_params
            .map(TransformationsParams::into_raw_payload)
            .transpose()?
            .flatten();
        let payload = match raw_payload {
            Some(payload) => payload,
            None => parse_payload(self.payload.as_deref())?,
        };
        Ok(AcceptMessage {
            event_type,
            payload,
            event_id: parse_event_id(self.event_id)?,
            channels: parse_channels(self.channels.unwrap_or_default())?,
            tags: parse_tags(self.tags.unwrap_or_default())?,
            deliver_at: self.deliver_at,
            application: self
                .application
                .map(|application| application.into_fields(&["application"]))
                .transpose()?,
        })
    }
}

/// A message as Svix renders it (`MessageOut`). `payload` is always present (`{}` without
/// content), because the SDK requires it; it is written out as the stored text, unchanged.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MessageOut {
    pub id: MessageId,
    pub event_type: EventTypeName,
    #[schema(value_type = Value)]
    pub payload: Box<RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<ChannelName>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deliver_at: Option<Timestamp>,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: Timestamp,
}

impl MessageOut {
    /// Renders a message, with its payload only when `with_content` is set.
    pub fn render(message: Message, with_content: bool) -> Self {
        let payload = match message.payload.filter(|_| with_content) {
            Some(text) => RawValue::from_string(text).unwrap_or_else(|error| {
                tracing::error!(msg_id = %message.id, error = %ErrorChain(&error), "stored payload is not valid JSON");
                empty_object()
            }),
            None => empty_object(),
        };
        MessageOut {
            id: message.id,
            event_type: message.event_type,
            payload,
            event_id: message.event_id,
            channels: Some(message.channels).filter(|channels| !channels.is_empty()),
            tags: Some(message.tags).filter(|tags| !tags.is_empty()),
            deliver_at: message.deliver_at,
            timestamp: message.created_at,
        }
    }

    /// For the idempotency layer: links a stored answer to this message, so expunging the
    /// content also erases it from the answer.
    pub fn created_answer(&self) -> CreatedMessageAnswer {
        CreatedMessageAnswer {
            msg_id: self.id.clone(),
            body_without_content: self.without_content_json(),
        }
    }

    /// This answer as JSON as it reads once the message's content is expunged (payload `{}`,
    /// as GET shows it then): what a replayed `Idempotency-Key` gives back from then on.
    fn without_content_json(&self) -> Vec<u8> {
        let without_content = MessageOut {
            id: self.id.clone(),
            event_type: self.event_type.clone(),
            payload: empty_object(),
            event_id: self.event_id.clone(),
            channels: self.channels.clone(),
            tags: self.tags.clone(),
            deliver_at: self.deliver_at,
            timestamp: self.timestamp,
        };
        serde_json::to_vec(&without_content).expect("ids, names and timestamps serialize")
    }
}

/// The query of creating or reading one message.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WithContentQuery {
    /// `false` renders the payload as `{}`.
    #[serde(default = "yes", deserialize_with = "flag::<_, true>")]
    pub with_content: bool,
}

/// `POST /app/{app_id}/msg[?with_content=false]`: 202 once the message and its deliveries are
/// durable; 409 when the application already has a message with this `eventId`.
pub async fn create(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    query: QueryPart<WithContentQuery>,
    ValidJson(input): ValidJson<MessageIn>,
) -> ApiResult<(
    StatusCode,
    Extension<CreatedMessageAnswer>,
    Json<MessageOut>,
)> {
    // Opened after the body, which axum reads first: a bad body is answered before a bad flag.
    let ApiQuery(WithContentQuery { with_content }) = query?;
    let message = input.parse()?;
    let message = messages::accept(&ctx.ops, &principal, &app_id, message).await?;
    let answer = MessageOut::render(message, with_content);
    let created = answer.created_answer();
    Ok((StatusCode::ACCEPTED, Extension(created), Json(answer)))
}

/// `GET /app/{app_id}/msg`: newest first, filtered by `event_types`, `channel`, `before`,
/// `after`.
pub async fn list(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath(app_id): ApiPath<String>,
    page: QueryPart<PageQuery>,
    filter: QueryPart<MessageFilterQuery>,
    content: QueryPart<WithContentQuery>,
) -> ApiResult<Json<ListResponse<MessageOut>>> {
    let named = Named::app(AppRef::Named(&app_id));
    let query = (page, filter, content).open();
    let (page, filter, WithContentQuery { with_content }) =
        input_after_lookup(&ctx, &principal, named, query).await?;
    let filter = filter.filter();
    let page = page.request(Order::Descending);
    let messages =
        messages::list(&ctx.ops, &principal, &app_id, filter, page, with_content).await?;
    Ok(Json(render_page(messages, |message| {
        MessageOut::render(message, with_content)
    })))
}

/// `GET /app/{app_id}/msg/{msg_id}`.
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, msg_id)): ApiPath<(String, String)>,
    ApiQuery(WithContentQuery { with_content }): ApiQuery<WithContentQuery>,
) -> ApiResult<Json<MessageOut>> {
    let message = messages::get(&ctx.ops, &principal, &app_id, &msg_id).await?;
    Ok(Json(MessageOut::render(message, with_content)))
}

/// The payload as sent, or a 422: a duplicate key is located at the key itself
/// (`["body", "payload", "order", "id"]`).
pub fn parse_payload(payload: Option<&RawValue>) -> ApiResult<MessagePayload> {
    let Some(payload) = payload else {
        return Err(ApiError::invalid_body(
            &["payload"],
            PayloadError::NotAnObject.to_string(),
        ));
    };
    MessagePayload::parse(payload.get()).map_err(|error| payload_refusal(&["payload"], error))
}

/// The 422 for a payload refused at `field`: a duplicate key is located at the key itself.
pub(super) fn payload_refusal(field: &[&str], error: PayloadError) -> ApiError {
    let mut loc = field.to_vec();
    if let PayloadError::DuplicateKey { path, key } = &error {
        loc.extend(path.iter().map(String::as_str));
        loc.push(key);
    }
    ApiError::invalid_body(&loc, error.to_string())
}

fn parse_event_id(event_id: Option<String>) -> ApiResult<Option<String>> {
    let Some(event_id) = event_id else {
        return Ok(None);
    };
    // A message is addressed by its eventId in URL paths (`/msg/{eventId}`), so it follows
    // the rules of a uid (Svix's too): 1-256 of `[a-zA-Z0-9_.-]`, not `.` or `..`.
    Uid::parse(&event_id)
        .map_err(|error| ApiError::invalid_input(&["eventId"], error))
        .map(|_| Some(event_id))
}

pub(super) fn parse_channels(channels: Vec<String>) -> ApiResult<Vec<ChannelName>> {
    if channels.len() > MAX_CHANNELS {
        return Err(ApiError::invalid_body(
            &["channels"],
            format!("at most {MAX_CHANNELS} channels are allowed"),
        ));
    }
    let mut parsed: Vec<ChannelName> = Vec::with_capacity(channels.len());
    for (index, channel) in channels.iter().enumerate() {
        let channel = ChannelName::parse(channel)
            .map_err(|error| ApiError::invalid_input(&["channels", &index.to_string()], error))?;
        if !parsed.contains(&channel) {
            parsed.push(channel);
        }
    }
    Ok(parsed)
}

fn parse_tags(tags: Vec<String>) -> ApiResult<Vec<String>> {
    for (index, tag) in tags.iter().enumerate() {
        limits::check_text(tag, TAG)
            .map_err(|error| ApiError::invalid_input(&["tags", &index.to_string()], error))?;
    }
    Ok(tags)
}

fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".to_owned()).expect("{} is a JSON object")
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::domain::AppId;

    fn parsed(body: Value) -> ApiResult<AcceptMessage> {
        parsed_text(&body.to_string())
    }

    fn parsed_text(body: &str) -> ApiResult<AcceptMessage> {
        crate::api::json::parse_json::<MessageIn>(body.as_bytes())?.parse()
    }

    fn error_loc(body: Value) -> Value {
        parsed(body.clone()).expect_err(&body.to_string()).body()["detail"][0]["loc"].clone()
    }

    #[test]
    fn messages_parse_into_domain_values() {
        let message = parsed(json!({
            "eventType": "invoice.paid",
            "payload": {"b": 1, "a": [true]},
            "eventId": "evt-1",
            "channels": ["eu", "eu", "us"],
            "tags": ["vip"],
            "application": {"name": "Shop"}
        }))
        .unwrap();
        assert_eq!(message.event_type.as_str(), "invoice.paid");
        let payload: Value = serde_json::from_str(message.payload.as_str()).unwrap();
        assert_eq!(payload, json!({"b": 1, "a": [true]}));
        assert_eq!(message.channels.len(), 2);
        assert_eq!(message.application.unwrap().name, "Shop");
    }

    #[test]
    fn the_payload_is_the_exact_text_between_its_delimiters() {
        // Whitespace inside the value is the sender's; whitespace around it belongs to the
        // request body and is not part of the payload.
        let payload = "{ \"b\" : 1.50,\n\"a\":123456789012345678901234567890 }";
        for body in [
            format!(r#"{{"eventType":"a","payload":{payload}}}"#),
            format!("{{\"payload\" :\n\t{payload}  \n, \"eventType\":\"a\"}}"),
        ] {
            assert_eq!(
                parsed_text(&body).unwrap().payload.as_str(),
                payload,
                "{body}"
            );
        }
    }

    #[test]
    fn a_duplicate_payload_key_is_located_at_the_key() {
        let error = parsed_text(r#"{"eventType":"a","payload":{"o":[{"k":1,"k":2}]}}"#)
            .expect_err("duplicate key");
        assert_eq!(
            error.body(),
            json!({"detail": [{
                "loc": ["body", "payload", "o", "0", "k"],
                "msg": "duplicate key \"k\" in the payload",
                "type": "value_error"
            }]})
        );
    }

    #[test]
    fn bad_messages_are_located() {
        let payload = json!({"k": 1});
        let cases = [
            (
                json!({"eventType": "bad type", "payload": payload}),
                json!(["body", "eventType"]),
            ),
            (json!({"eventType": "a"}), json!(["body", "payload"])),
            (
                json!({"eventType": "a", "payload": [1]}),
                json!(["body", "payload"]),
            ),
            (
                json!({"eventType": "a", "payload": payload, "eventId": ""}),
                json!(["body", "eventId"]),
            ),
            (
                json!({"eventType": "a", "payload": payload, "channels": ["ok", "not ok"]}),
                json!(["body", "channels", "1"]),
            ),
            (
                json!({"eventType": "a", "payload": payload, "channels": ["1","2","3","4","5","6","7","8","9","10","11"]}),
                json!(["body", "channels"]),
            ),
            (
                json!({"eventType": "a", "payload": payload, "tags": [""]}),
                json!(["body", "tags", "0"]),
            ),
            (
                json!({"eventType": "a", "payload": payload, "application": {"name": ""}}),
                json!(["body", "application", "name"]),
            ),
        ];
        for (body, loc) in cases {
            assert_eq!(error_loc(body.clone()), loc, "{body}");
        }
    }

    fn stored() -> Message {
        Message {
            id: MessageId::from_trusted("msg_1"),
            app_id: AppId::from_trusted("app_1"),
            event_type: EventTypeName::parse("invoice.paid").unwrap(),
            event_id: None,
            payload: Some(r#"{"amount":5}"#.to_owned()),
            channels: Vec::new(),
            tags: vec!["vip".to_owned()],
            deliver_at: None,
            created_at: chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123Z")
                .unwrap()
                .to_utc(),
            content_type: None,
        }
    }

    #[test]
    fn rendering_with_and_without_content() {
        assert_eq!(
            serde_json::to_value(MessageOut::render(stored(), true)).unwrap(),
            json!({
                "id": "msg_1", "eventType": "invoice.paid", "payload": {"amount": 5},
                "tags": ["vip"], "timestamp": "2024-05-06T07:08:09.123Z"
            })
        );
        let without = MessageOut::render(stored(), false);
        assert_eq!(without.payload.get(), "{}");
        let mut expunged = stored();
        expunged.payload = None;
        assert_eq!(MessageOut::render(expunged, true).payload.get(), "{}");
    }
}
