//! A message's `transformationsParams` (Svix `MessageIn`), of which hookd reads what the
//! official SDKs' `messageInRaw` (JS) and `message_in_raw` (Python) send: `rawPayload`, the
//! payload as text (their `payload` is then `{}`), and `headers` with its `content-type`.
//!
//! hookd keeps every payload byte for byte already, so a raw payload that is a JSON object is
//! simply the message's payload. What hookd cannot send as the sender meant it is refused with
//! a 422 naming the field, never dropped: text that is not a JSON object, a content type other
//! than JSON, or another header (custom headers belong to the endpoint). Other keys of
//! `transformationsParams` are for Svix's transformations, which hookd does not run; they are
//! ignored, like every unknown field.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::error::{ApiError, ApiResult};
use super::messages::payload_refusal;
use crate::domain::MessagePayload;

const FIELD: &str = "transformationsParams";

/// The parts of `transformationsParams` hookd reads.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TransformationsParams {
    /// The payload as text, sent instead of `payload` exactly as written; it must be a JSON
    /// object.
    #[serde(default)]
    pub raw_payload: Option<String>,
    /// Only `content-type` may be given, and only a JSON one.
    #[serde(default)]
    pub headers: Option<BTreeMap<String, String>>,
}

impl TransformationsParams {
    /// The payload that replaces the message's `payload`, if `rawPayload` is given.
    pub fn into_raw_payload(self) -> ApiResult<Option<MessagePayload>> {
        for (name, value) in self.headers.iter().flatten() {
            let loc = [FIELD, "headers", name.as_str()];
            if !name.eq_ignore_ascii_case("content-type") {
                return Err(ApiError::invalid_body(
                    &loc,
                    "a message sends no headers of its own: set custom headers on the endpoint",
                ));
            }
            if !is_json_media_type(value) {
                return Err(ApiError::invalid_body(
                    &loc,
                    "hookd sends message payloads as application/json",
                ));
            }
        }
        let Some(text) = self.raw_payload else {
            return Ok(None);
        };
        MessagePayload::parse(&text)
            .map(Some)
            .map_err(|error| payload_refusal(&[FIELD, "rawPayload"], error))
    }
}

/// `application/json`, with or without parameters such as `charset`.
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_are_recognised() {
        for (value, json) in [
            ("application/json", true),
            ("Application/JSON; charset=utf-8", true),
            (" application/json ;charset=UTF-8", true),
            ("text/plain", false),
            ("application/jsonx", false),
            ("", false),
        ] {
            assert_eq!(is_json_media_type(value), json, "{value:?}");
        }
    }
}
