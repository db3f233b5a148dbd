//! The API's JSON request bodies, parsed as their handlers parse them (`hookd::api::fuzzing`):
//! the first byte picks the body (message, application, endpoint, event type, source, token,
//! headers; creates and patches), the second the SSRF policy, the rest is the body. On
//! arbitrary bytes nothing may panic, and
//! - every refusal is a 400 or 422 with a JSON `detail`, never a server error;
//! - nothing accepted holds a NUL character (PostgreSQL text cannot);
//! - a message keeps its payload's exact text from the body;
//! - what an endpoint stores can be sent: its URL parses again to itself, its custom headers
//!   and `Authorization` are valid HTTP headers, its retry schedule writes back to itself, its
//!   secret shows back as it parses;
//! - a source's config survives the store's JSON and builds its verifier;
//! - an endpoint's content filter survives the store's JSON (its written text parses again to
//!   the same filter) and evaluates, without panicking, against the body itself as a payload.
#![no_main]

use std::str::FromStr;

use hookd::api::fuzzing::{self as api, Refusal};
use hookd::domain::inbound::SourceConfig;
use hookd::domain::{
    ContentFilter, EndpointFields, EndpointUrl, MessagePayload, PayloadDocument, Secret,
};
use hookd::policy::retry::RetrySchedule;
use hookd::policy::ssrf::TargetPolicy;
use http::{HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// What a PATCH applies to: an endpoint as a minimal create makes it.
const CURRENT_ENDPOINT: &[u8] = br#"{"url": "https://receiver.example/hook", "uid": "current",
    "headers": {"X-Current": "1"}, "retrySchedule": "1s,1m", "auth": {"type": "bearer", "token": "t"}}"#;

const BODIES: usize = 12;

fuzz_target!(|data: &[u8]| {
    let [kind, policy, body @ ..] = data else {
        return;
    };
    let policy = TargetPolicy {
        allow_private: policy & 1 != 0,
        https_only: policy & 2 != 0,
    };
    if parse(usize::from(*kind) % BODIES, body, &policy) {
        // Every string and key of an accepted body is free of NUL. (A body may be accepted
        // that `Value` cannot hold, such as `1e400` in a field hookd ignores.)
        if let Ok(value) = serde_json::from_slice::<Value>(body) {
            assert!(!holds_nul(&value), "accepted a NUL: {value}");
        }
    }
});

/// Parses `body` as body number `kind`; whether it was accepted.
fn parse(kind: usize, body: &[u8], policy: &TargetPolicy) -> bool {
    match kind {
        0 => accepted(api::message_in(body)).is_some_and(|message| {
            let text = message.payload.as_str();
            assert!(
                contains(body, text.as_bytes()),
                "payload {text:?} is not the body's text"
            );
            MessagePayload::parse(text).expect("a kept payload parses again");
            true
        }),
        1 => accepted(api::application_in(body)).is_some(),
        2 => accepted(api::application_patch(body, current_application())).is_some(),
        3 => accepted(api::endpoint_in(body, policy)).is_some_and(|(fields, secret)| {
            check_endpoint(&fields, policy);
            if let (Some(filter), Ok(text)) = (&fields.filter, std::str::from_utf8(body)) {
                let _ = filter.matches(&PayloadDocument::json(text));
            }
            if let Some(secret) = secret {
                assert_eq!(Secret::parse_whsec(&secret.to_string()).ok(), Some(secret));
            }
            true
        }),
        4 => {
            accepted(api::endpoint_patch(body, current_endpoint(), policy)).is_some_and(|fields| {
                check_endpoint(&fields, policy);
                true
            })
        }
        5 => accepted(api::endpoint_headers_in(body)).is_some_and(|headers| {
            headers.iter().for_each(check_header);
            true
        }),
        6 => accepted(api::event_type_in(body)).is_some(),
        7 => accepted(api::event_type_patch(body, current_event_type())).is_some(),
        8 => accepted(api::source_in(body)).is_some_and(|fields| {
            let stored = serde_json::to_string(&fields.config).expect("a config serializes");
            let loaded: SourceConfig =
                serde_json::from_str(&stored).expect("a stored config loads");
            assert_eq!(loaded, fields.config);
            let verifier = fields
                .source_type
                .scheme()
                .verifier(&fields.config, "https://hookd.example/ingest/in/token");
            assert!(
                verifier.is_ok(),
                "{fields:?} was accepted but builds no verifier"
            );
            true
        }),
        9 => accepted(api::app_token_in(body)).is_some(),
        10 => accepted(api::portal_access_in(body)).is_some(),
        _ => accepted(api::token_expire_in(body)).is_some(),
    }
}

/// The value, or `None` after checking that the refusal is a client error with a JSON detail.
fn accepted<T>(parsed: Result<T, Refusal>) -> Option<T> {
    match parsed {
        Ok(value) => Some(value),
        Err(refusal) => {
            assert!(
                matches!(refusal.status, 400 | 422),
                "status {} for {}",
                refusal.status,
                refusal.body
            );
            match &refusal.body["detail"] {
                Value::String(detail) => assert!(!detail.is_empty()),
                Value::Array(errors) => {
                    assert!(!errors.is_empty());
                    for error in errors {
                        assert!(
                            error["loc"].is_array() && error["msg"].is_string(),
                            "{error}"
                        );
                    }
                }
                other => panic!("detail {other}"),
            }
            None
        }
    }
}

fn check_endpoint(fields: &EndpointFields, policy: &TargetPolicy) {
    let url = EndpointUrl::parse(fields.url.as_str()).expect("a stored URL parses again");
    assert_eq!(url, fields.url);
    assert!(hookd::policy::ssrf::check_url(url.as_url(), policy).is_ok());
    fields.headers.iter().for_each(check_header);
    if let Some(filter) = &fields.filter {
        let stored = filter.as_json().to_string();
        let loaded = ContentFilter::parse(serde_json::from_str(&stored).expect("stored JSON"));
        assert_eq!(loaded.as_ref(), Ok(filter), "{stored}");
    }
    if let Some(auth) = &fields.delivery.auth {
        assert!(
            HeaderValue::from_str(&auth.header_value()).is_ok(),
            "{auth:?}"
        );
    }
    if let Some(schedule) = &fields.delivery.retry_schedule {
        assert_eq!(
            RetrySchedule::from_str(&schedule.to_string()).as_ref(),
            Ok(schedule)
        );
    }
}

fn check_header((name, value): (&String, &String)) {
    assert!(
        HeaderName::from_bytes(name.as_bytes()).is_ok(),
        "header name {name:?}"
    );
    assert!(
        HeaderValue::from_str(value).is_ok(),
        "header {name:?} value {value:?}"
    );
}

fn current_endpoint() -> EndpointFields {
    let open = TargetPolicy {
        allow_private: true,
        https_only: false,
    };
    api::endpoint_in(CURRENT_ENDPOINT, &open)
        .expect("the current endpoint parses")
        .0
}

fn current_application() -> hookd::domain::ApplicationFields {
    api::application_in(br#"{"name": "current", "uid": "current", "metadata": {"a": "b"}}"#)
        .expect("the current application parses")
}

fn current_event_type() -> hookd::domain::EventTypeFields {
    api::event_type_in(br#"{"name": "current.type", "description": "d", "featureFlag": "f"}"#)
        .expect("the current event type parses")
        .1
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len().max(1))
        .any(|window| window == needle)
}

fn holds_nul(value: &Value) -> bool {
    match value {
        Value::String(text) => text.contains('\0'),
        Value::Array(items) => items.iter().any(holds_nul),
        Value::Object(map) => map
            .iter()
            .any(|(key, item)| key.contains('\0') || holds_nul(item)),
        _ => false,
    }
}
