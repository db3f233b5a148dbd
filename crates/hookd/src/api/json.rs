//! Reading request bodies: the size limit and the `ValidJson` extractor.
//!
//! Svix clients expect three different answers for three kinds of bad bodies, and this module
//! makes them: too large -> 413, not JSON at all -> 400, JSON of the wrong shape -> 422 naming
//! the field (`["body", "channels", "0"]`). The `Content-Type` header is not required: a body
//! that parses as JSON is accepted whatever it says. Unknown fields are ignored, because newer
//! SDKs send fields that hookd does not know yet.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, OptionalFromRequest, Request};
use axum::http::HeaderMap;
use axum::http::header::CONTENT_LENGTH;
use futures::StreamExt;
use serde::de::DeserializeOwned;

use super::ApiContext;
use super::body_limits;
use super::error::{ApiError, FieldError};

/// A JSON request body deserialized into `T`, with Svix-shaped errors. `Option<ValidJson<T>>`
/// accepts an empty body as `None`.
#[derive(Debug)]
pub struct ValidJson<T>(pub T);

impl<T> FromRequest<ApiContext> for ValidJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, ctx: &ApiContext) -> Result<Self, ApiError> {
        let bytes = read_request_body(request, ctx.max_body_bytes).await?;
        if is_blank(&bytes) {
            return Err(ApiError::Validation(vec![
                FieldError::body(&[], "a JSON request body is required")
                    .with_kind("value_error.missing"),
            ]));
        }
        parse_json(&bytes).map(ValidJson)
    }
}

impl<T> OptionalFromRequest<ApiContext> for ValidJson<T>
where
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, ctx: &ApiContext) -> Result<Option<Self>, ApiError> {
        let bytes = read_request_body(request, ctx.max_body_bytes).await?;
        if is_blank(&bytes) {
            return Ok(None);
        }
        parse_json(&bytes).map(|value| Some(ValidJson(value)))
    }
}

/// Reads a whole request body, refusing it with 413 as soon as it passes `limit` bytes (or at
/// once when its `Content-Length` says it will).
pub async fn read_request_body(request: Request, limit: usize) -> Result<Bytes, ApiError> {
    check_declared_length(request.headers(), limit)?;
    read_body(request.into_body(), limit).await
}

/// Refuses a body whose `Content-Length` is over `limit` before any of it is read.
pub fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), ApiError> {
    let declared_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    match declared_length {
        Some(length) if length > limit as u64 => Err(ApiError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// Reads a body of at most `limit` bytes.
pub async fn read_body(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut collected = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|error| {
            if body_limits::is_body_deadline(&error) {
                ApiError::RequestTimeout
            } else {
                ApiError::BadRequest(format!("failed to read the request body: {error}"))
            }
        })?;
        if collected.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        collected.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(collected))
}

fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_whitespace)
}

/// Deserializes a JSON object: syntax errors are 400, shape errors are 422 with the field's
/// path. Every request body of the API is an object; serde would otherwise also accept a struct
/// written as an array.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let is_object = bytes
        .iter()
        .find(|byte| !byte.is_ascii_whitespace())
        .is_some_and(|first| *first == b'{');
    let not_an_object = || ApiError::invalid_body(&[], "the request body must be a JSON object");
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().clone();
        let inner = error.into_inner();
        if !inner.is_data() {
            ApiError::BadRequest(format!("malformed JSON: {inner}"))
        } else if !is_object {
            not_an_object()
        } else {
            ApiError::Validation(vec![shape_error(&path, &inner)])
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::BadRequest(format!("malformed JSON: {error}")))?;
    if !is_object {
        return Err(not_an_object());
    }
    if contains_escaped_nul(bytes) {
        // PostgreSQL text cannot hold U+0000, and no webhook needs it: refuse it on every
        // backend alike rather than fail later with a database error.
        return Err(ApiError::invalid_body(
            &[],
            "strings may not contain the NUL character (\\u0000)",
        ));
    }
    Ok(value)
}

/// Whether valid JSON text contains the escape `\u0000`. Raw control characters cannot appear
/// in valid JSON, so the escape is the only way to write NUL; every backslash starts an escape
/// of two characters, or six for `\uXXXX`.
fn contains_escaped_nul(bytes: &[u8]) -> bool {
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] != b'\\' {
            index += 1;
            continue;
        }
        if bytes.get(index + 1) == Some(&b'u') {
            if bytes.get(index + 2..index + 6) == Some(b"0000".as_slice()) {
                return true;
            }
            index += 6;
        } else {
            index += 2;
        }
    }
    false
}

/// A 422 entry for a JSON value of the wrong type, or a missing field.
fn shape_error(path: &serde_path_to_error::Path, error: &serde_json::Error) -> FieldError {
    let mut loc: Vec<String> = path
        .iter()
        .filter_map(|segment| match segment {
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
            serde_path_to_error::Segment::Unknown => None,
        })
        .collect();
    let message = message_without_position(error);
    // serde reports a missing field at its parent; Svix (like FastAPI) names the field itself.
    if let Some(field) = missing_field_name(&message) {
        loc.push(field.to_owned());
        let path: Vec<&str> = loc.iter().map(String::as_str).collect();
        return FieldError::body(&path, "field required").with_kind("value_error.missing");
    }
    let path: Vec<&str> = loc.iter().map(String::as_str).collect();
    FieldError::body(&path, message).with_kind("type_error")
}

/// serde_json appends " at line L column C", which means nothing to an API client.
fn message_without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(position) => text[..position].to_owned(),
        None => text,
    }
}

fn missing_field_name(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")?
        .strip_suffix('`')
        .filter(|name| !name.is_empty())
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_characters_are_refused_but_escaped_backslashes_are_not() {
        for (body, refused) in [
            (r#"{"a": "x\u0000y"}"#, true),
            (r#"{"a\u0000": 1}"#, true),
            (r#"{"a": "\\u0000"}"#, false),
            (r#"{"a": "\u00001"}"#, true),
            (r#"{"a": "\u0001"}"#, false),
            (r#"{"a": "plain"}"#, false),
        ] {
            assert_eq!(contains_escaped_nul(body.as_bytes()), refused, "{body}");
        }
    }

    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[allow(dead_code)]
    struct Sample {
        name: String,
        #[serde(default)]
        event_types: Option<Vec<String>>,
        #[serde(default)]
        throttle_rate: Option<u32>,
    }

    fn check(input: &str, status: u16, body: serde_json::Value) {
        let error = parse_json::<Sample>(input.as_bytes()).expect_err(input);
        let response = error.body();
        let actual_status = match error {
            ApiError::BadRequest(_) => 400,
            ApiError::Validation(_) => 422,
            other => panic!("unexpected {other:?}"),
        };
        assert_eq!(actual_status, status, "{input}");
        assert_eq!(response, body, "{input}");
    }

    #[test]
    fn valid_json_ignores_unknown_fields() {
        let sample: Sample = parse_json(br#"{"name": "a", "somethingNew": 1}"#).unwrap();
        assert_eq!(sample.name, "a");
    }

    #[test]
    fn json_errors_are_svix_shaped() {
        check(
            r#"{"name": "#,
            400,
            json!({"code": "bad_request", "detail": "malformed JSON: EOF while parsing a value at line 1 column 9"}),
        );
        check(
            r#"{"name": "a"} trailing"#,
            400,
            json!({"code": "bad_request", "detail": "malformed JSON: trailing characters at line 1 column 15"}),
        );
        check(
            r#"{}"#,
            422,
            json!({"detail": [{"loc": ["body", "name"], "msg": "field required", "type": "value_error.missing"}]}),
        );
        check(
            r#"{"name": "a", "eventTypes": ["x", 5]}"#,
            422,
            json!({"detail": [{
                "loc": ["body", "eventTypes", "1"],
                "msg": "invalid type: integer `5`, expected a string",
                "type": "type_error"
            }]}),
        );
        check(
            r#"{"name": "a", "throttleRate": -1}"#,
            422,
            json!({"detail": [{
                "loc": ["body", "throttleRate"],
                "msg": "invalid value: integer `-1`, expected u32",
                "type": "type_error"
            }]}),
        );
        let not_an_object = json!({"detail": [{
            "loc": ["body"],
            "msg": "the request body must be a JSON object",
            "type": "value_error"
        }]});
        check(r#"[1]"#, 422, not_an_object.clone());
        check(r#"["a"]"#, 422, not_an_object.clone());
        check(r#""a""#, 422, not_an_object);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_refused() {
        let body = Body::from(vec![b' '; 11]);
        assert!(matches!(
            read_body(body, 10).await,
            Err(ApiError::PayloadTooLarge { limit: 10 })
        ));
        let body = Body::from(vec![b' '; 10]);
        assert_eq!(read_body(body, 10).await.unwrap().len(), 10);
    }
}
