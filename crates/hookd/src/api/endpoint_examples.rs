//! `POST /app/{app_id}/endpoint/{endpoint_id}/send-example` (Svix `endpoint.send_example`):
//! an event type's example payload sent as a message to that one endpoint only.
//!
//! The body names the event type and, optionally, which of its schema's examples (Svix
//! `EventExampleIn`); `ops::messages::send_example` picks the example and commits the message
//! with its single delivery. A missing application or endpoint is answered 404 before any
//! refusal of the body.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::value::RawValue;

use super::ApiContext;
use super::error::{ApiError, ApiResult};
use super::json::ValidJson;
use super::lookup_first::input_after_lookup;
use super::messages::{MessageOut, parse_payload};
use super::params::ApiPath;
use crate::domain::EventTypeName;
use crate::ops::messages::{self, SendExample};
use crate::ops::{AppRef, Named, Principal};
use crate::store::CreatedMessageAnswer;

/// The body of `send-example` (Svix `EventExampleIn`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventExampleIn {
    /// The event type whose example is sent; it must exist.
    pub event_type: String,
    /// Which of the newest schema version's `examples` to send (0, the first, by default).
    #[serde(default)]
    pub example_index: Option<i64>,
    /// A JSON object sent instead of the schema's example.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Box<RawValue>>,
}

impl EventExampleIn {
    pub fn parse(self) -> ApiResult<SendExample> {
        let event_type = EventTypeName::parse(&self.event_type)
            .map_err(|error| ApiError::invalid_input(&["eventType"], error))?;
        let example_index = self
            .example_index
            .map(|index| {
                usize::try_from(index).map_err(|_| {
                    ApiError::invalid_body(&["exampleIndex"], "exampleIndex must be 0 or more")
                })
            })
            .transpose()?;
        let payload = self
            .payload
            .map(|payload| parse_payload(Some(&payload)))
            .transpose()?;
        Ok(SendExample {
            event_type,
            example_index,
            payload,
        })
    }
}

/// `POST /app/{app_id}/endpoint/{endpoint_id}/send-example`: 202 with the message (Svix
/// `MessageOut`) once it and its one delivery are stored.
pub async fn send(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    body: Result<ValidJson<EventExampleIn>, ApiError>,
) -> ApiResult<(
    StatusCode,
    Extension<CreatedMessageAnswer>,
    Json<MessageOut>,
)> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let parsed = body.and_then(|ValidJson(body)| body.parse());
    let example = input_after_lookup(&ctx, &principal, named, parsed).await?;
    let message =
        messages::send_example(&ctx.ops, &principal, &app_id, &endpoint_id, example).await?;
    let answer = MessageOut::render(message, true);
    let created = answer.created_answer();
    Ok((StatusCode::ACCEPTED, Extension(created), Json(answer)))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn refused_at(body: Value) -> Value {
        crate::api::json::parse_json::<EventExampleIn>(body.to_string().as_bytes())
            .and_then(EventExampleIn::parse)
            .expect_err(&body.to_string())
            .body()["detail"][0]["loc"]
            .clone()
    }

    #[test]
    fn bad_bodies_are_refused_at_their_field() {
        #[rustfmt::skip]
        let cases = [
            (json!({}), json!(["body", "eventType"])),
            (json!({"eventType": "not a name!"}), json!(["body", "eventType"])),
            (json!({"eventType": "a.b", "exampleIndex": -1}), json!(["body", "exampleIndex"])),
            (json!({"eventType": "a.b", "exampleIndex": "first"}), json!(["body", "exampleIndex"])),
            (json!({"eventType": "a.b", "payload": [1]}), json!(["body", "payload"])),
        ];
        for (body, loc) in cases {
            assert_eq!(refused_at(body.clone()), loc, "{body}");
        }
    }

    #[test]
    fn good_bodies_parse() {
        let parsed = crate::api::json::parse_json::<EventExampleIn>(
            br#"{"eventType": "user.created", "exampleIndex": 2, "payload": {"a": 1}}"#,
        )
        .and_then(EventExampleIn::parse)
        .unwrap();
        assert_eq!(parsed.event_type.as_str(), "user.created");
        assert_eq!(parsed.example_index, Some(2));
        assert_eq!(parsed.payload.unwrap().as_str(), r#"{"a": 1}"#);
    }
}
