//! Tests of `endpoints`, kept beside it so the module itself stays readable.

use serde_json::json;

use super::*;
use crate::api::error::ApiError;
use crate::domain::OutboundAuth;
use crate::domain::{AppId, DeliveryOptions, EndpointFields};
use crate::policy::retry::RetrySchedule;

const GUARDED: TargetPolicy = TargetPolicy {
    allow_private: false,
    https_only: false,
};

fn fields_from(body: serde_json::Value) -> ApiResult<EndpointFields> {
    let input: EndpointIn = serde_json::from_value(body).unwrap();
    input.into_fields(&GUARDED, KeptFields::default())
}

fn error_loc(error: ApiError) -> serde_json::Value {
    error.body()["detail"][0]["loc"].clone()
}

#[test]
fn create_bodies_get_svix_defaults() {
    let fields = fields_from(json!({"url": "https://example.com/hook"})).unwrap();
    assert_eq!(fields.description, "");
    assert_eq!(fields.version, 1);
    assert!(!fields.disabled);
    assert_eq!(fields.event_types, None);
    assert_eq!(fields.channels, None);
    assert!(fields.metadata.is_empty() && fields.headers.is_empty());
}

#[test]
fn old_spellings_and_empty_lists() {
    let fields = fields_from(json!({
        "url": "https://example.com/hook",
        "filterTypes": ["a.b", "a.b", "c"],
        "channels": [],
        "rateLimit": 3
    }))
    .unwrap();
    let names: Vec<&str> = fields
        .event_types
        .as_ref()
        .unwrap()
        .iter()
        .map(EventTypeName::as_str)
        .collect();
    assert_eq!(names, ["a.b", "c"]);
    assert_eq!(fields.channels, None);
    assert_eq!(fields.throttle_rate, Some(3));
}

#[test]
fn bad_fields_are_located() {
    let cases = [
        (json!({"url": "ftp://example.com"}), json!(["body", "url"])),
        (json!({"url": "http://127.0.0.1/"}), json!(["body", "url"])),
        (
            json!({"url": "http://localhost:8080/"}),
            json!(["body", "url"]),
        ),
        (
            json!({"url": "https://example.com", "eventTypes": ["ok", "not ok"]}),
            json!(["body", "eventTypes", "1"]),
        ),
        (
            json!({"url": "https://example.com", "channels": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]}),
            json!(["body", "channels"]),
        ),
        (
            json!({"url": "https://example.com", "version": 0}),
            json!(["body", "version"]),
        ),
        (
            json!({"url": "https://example.com", "uid": "a b"}),
            json!(["body", "uid"]),
        ),
        (
            json!({"url": "https://example.com", "headers": {"svix-id": "x"}}),
            json!(["body", "headers", "svix-id"]),
        ),
    ];
    for (body, loc) in cases {
        let error = fields_from(body.clone()).expect_err(&body.to_string());
        assert_eq!(error_loc(error), loc, "{body}");
    }
}

#[test]
fn private_targets_pass_when_allowed() {
    let input: EndpointIn = serde_json::from_value(json!({"url": "http://127.0.0.1:9/"})).unwrap();
    let open = TargetPolicy {
        allow_private: true,
        https_only: false,
    };
    assert!(input.into_fields(&open, KeptFields::default()).is_ok());
}

fn current() -> EndpointFields {
    fields_from(json!({
        "url": "https://example.com/hook",
        "description": "main",
        "uid": "main",
        "eventTypes": ["a"],
        "channels": ["eu"],
        "throttleRate": 5,
        "metadata": {"k": "v"},
        "headers": {"x-team": "core"}
    }))
    .unwrap()
}

fn patched(body: serde_json::Value) -> ApiResult<EndpointFields> {
    let patch: EndpointPatch = serde_json::from_value(body).unwrap();
    patch.merge_into(current(), &GUARDED)
}

#[test]
fn patch_merges_present_fields_only() {
    assert_eq!(patched(json!({})).unwrap(), current());
    let fields = patched(json!({"url": "https://example.org/", "disabled": true})).unwrap();
    assert_eq!(fields.url.as_str(), "https://example.org/");
    assert!(fields.disabled);
    assert_eq!(fields.description, "main");
    assert_eq!(fields.headers, current().headers);
}

#[test]
fn patch_null_resets_to_defaults() {
    let fields = patched(json!({
        "description": null, "uid": null, "filterTypes": null, "channels": [],
        "rateLimit": null, "metadata": null, "version": null
    }))
    .unwrap();
    assert_eq!(fields.description, "");
    assert_eq!(fields.uid, None);
    assert_eq!(fields.event_types, None);
    assert_eq!(fields.channels, None);
    assert_eq!(fields.throttle_rate, None);
    assert!(fields.metadata.is_empty());
    assert_eq!(fields.version, 1);
}

#[test]
fn patch_refuses_null_url_and_bad_values() {
    assert_eq!(
        error_loc(patched(json!({"url": null})).unwrap_err()),
        json!(["body", "url"])
    );
    assert_eq!(
        error_loc(patched(json!({"url": "http://10.0.0.1/"})).unwrap_err()),
        json!(["body", "url"])
    );
    assert_eq!(
        error_loc(patched(json!({"channels": ["no spaces"]})).unwrap_err()),
        json!(["body", "channels", "0"])
    );
}

/// An endpoint with `fields`, rendered as the API sends it.
fn rendered(fields: EndpointFields) -> String {
    let now = chrono::DateTime::parse_from_rfc3339("2024-05-06T07:08:09Z")
        .unwrap()
        .to_utc();
    let endpoint = Endpoint {
        id: EndpointId::from_trusted("ep_1"),
        app_id: AppId::from_trusted("app_1"),
        fields,
        created_at: now,
        updated_at: now,
    };
    serde_json::to_string(&EndpointOut::from(endpoint)).unwrap()
}

#[test]
fn output_uses_both_spellings() {
    let json: serde_json::Value = serde_json::from_str(&rendered(current())).unwrap();
    assert_eq!(
        json,
        json!({
            "id": "ep_1", "url": "https://example.com/hook", "description": "main",
            "uid": "main", "version": 1, "disabled": false,
            "eventTypes": ["a"], "filterTypes": ["a"], "channels": ["eu"],
            "throttleRate": 5, "rateLimit": 5, "metadata": {"k": "v"}, "ordered": false,
            "createdAt": "2024-05-06T07:08:09Z", "updatedAt": "2024-05-06T07:08:09Z"
        })
    );
}

#[test]
fn https_only_refuses_plain_http() {
    let https_only = TargetPolicy {
        allow_private: true,
        https_only: true,
    };
    let input: EndpointIn = serde_json::from_value(json!({"url": "http://127.0.0.1:9/"})).unwrap();
    let error = input
        .into_fields(&https_only, KeptFields::default())
        .unwrap_err();
    assert_eq!(error_loc(error), json!(["body", "url"]));
    let patch: EndpointPatch =
        serde_json::from_value(json!({"url": "http://example.org/"})).unwrap();
    let error = patch.merge_into(current(), &https_only).unwrap_err();
    assert_eq!(error_loc(error), json!(["body", "url"]));
    let input: EndpointIn = serde_json::from_value(json!({"url": "https://127.0.0.1:9/"})).unwrap();
    assert!(
        input
            .into_fields(&https_only, KeptFields::default())
            .is_ok()
    );
}

fn schedule(written: &str) -> Option<RetrySchedule> {
    Some(written.parse().unwrap())
}

fn basic(username: &str, password: &str) -> Option<OutboundAuth> {
    Some(OutboundAuth::Basic {
        username: username.into(),
        password: password.into(),
    })
}

fn bearer(token: &str) -> Option<OutboundAuth> {
    Some(OutboundAuth::Bearer {
        token: token.into(),
    })
}

/// The delivery options of a create (or full update) body: the URL plus `options`.
fn options_from(options: &serde_json::Value) -> ApiResult<DeliveryOptions> {
    let mut body = json!({"url": "https://example.com/hook"});
    let object = body.as_object_mut().unwrap();
    object.extend(options.as_object().unwrap().clone());
    fields_from(body).map(|fields| fields.delivery)
}

#[test]
fn create_and_update_read_delivery_options() {
    let cases = [
        (json!({}), DeliveryOptions::default()),
        (
            json!({"maxInFlight": null, "ordered": null, "retrySchedule": null, "auth": null}),
            DeliveryOptions::default(),
        ),
        (
            json!({"maxInFlight": 4, "ordered": true}),
            DeliveryOptions {
                max_in_flight: Some(4),
                ordered: true,
                ..DeliveryOptions::default()
            },
        ),
        (
            json!({"retrySchedule": "5s,1m,1h"}),
            DeliveryOptions {
                retry_schedule: schedule("5s,1m,1h"),
                ..DeliveryOptions::default()
            },
        ),
        (
            json!({"retrySchedule": ""}),
            DeliveryOptions {
                retry_schedule: schedule(""),
                ..DeliveryOptions::default()
            },
        ),
        (
            json!({"auth": {"type": "basic", "username": "u", "password": "p w"}}),
            DeliveryOptions {
                auth: basic("u", "p w"),
                ..DeliveryOptions::default()
            },
        ),
        (
            json!({"auth": {"type": "bearer", "token": "t"}}),
            DeliveryOptions {
                auth: bearer("t"),
                ..DeliveryOptions::default()
            },
        ),
    ];
    for (options, expected) in cases {
        assert_eq!(options_from(&options).unwrap(), expected, "{options}");
    }
}

#[test]
fn bad_delivery_options_are_located() {
    let cases = [
        (json!({"maxInFlight": 0}), json!(["body", "maxInFlight"])),
        (json!({"maxInFlight": 1001}), json!(["body", "maxInFlight"])),
        (json!({"maxInFlight": -3}), json!(["body", "maxInFlight"])),
        (
            json!({"retrySchedule": "5s,1x"}),
            json!(["body", "retrySchedule"]),
        ),
        (
            json!({"auth": {"type": "basic", "username": "a:b", "password": "p"}}),
            json!(["body", "auth", "username"]),
        ),
        (
            json!({"auth": {"type": "basic", "username": "a", "password": ""}}),
            json!(["body", "auth", "password"]),
        ),
        (
            json!({"auth": {"type": "bearer", "token": "a\r\nb"}}),
            json!(["body", "auth", "token"]),
        ),
    ];
    for (options, loc) in cases {
        let error = options_from(&options).expect_err(&options.to_string());
        assert_eq!(error_loc(error), loc, "{options}");
    }
    // The schedule's own parser explains what is wrong.
    let error = options_from(&json!({"retrySchedule": "5s,,1m"})).unwrap_err();
    assert_eq!(
        error.body()["detail"][0]["msg"],
        "retry schedule entry 2 is empty"
    );
}

#[test]
fn badly_shaped_delivery_options_are_located() {
    let cases = [
        (
            r#"{"url": "https://a.example", "maxInFlight": "8"}"#,
            json!(["body", "maxInFlight"]),
        ),
        (
            r#"{"url": "https://a.example", "ordered": "yes"}"#,
            json!(["body", "ordered"]),
        ),
        (
            r#"{"url": "https://a.example", "retrySchedule": 5}"#,
            json!(["body", "retrySchedule"]),
        ),
        (
            r#"{"url": "https://a.example", "auth": {"type": "digest"}}"#,
            json!(["body", "auth", "type"]),
        ),
        (
            r#"{"url": "https://a.example", "auth": {"type": "basic", "username": "u"}}"#,
            json!(["body", "auth", "password"]),
        ),
        (
            r#"{"url": "https://a.example", "auth": "secret"}"#,
            json!(["body", "auth"]),
        ),
    ];
    for (body, loc) in cases {
        let error = crate::api::json::parse_json::<EndpointIn>(body.as_bytes()).unwrap_err();
        assert_eq!(error_loc(error), loc, "{body}");
        let error = crate::api::json::parse_json::<EndpointPatch>(body.as_bytes()).unwrap_err();
        assert_eq!(error_loc(error), loc, "{body}");
    }
}

fn with_options() -> EndpointFields {
    EndpointFields {
        delivery: DeliveryOptions {
            max_in_flight: Some(8),
            ordered: true,
            retry_schedule: schedule("1m"),
            auth: basic("u", "p"),
        },
        ..current()
    }
}

#[test]
fn patch_keeps_resets_or_replaces_delivery_options() {
    let cases = [
        (json!({}), with_options().delivery),
        (json!({"description": "other"}), with_options().delivery),
        (
            json!({"maxInFlight": null, "ordered": null, "retrySchedule": null, "auth": null}),
            DeliveryOptions::default(),
        ),
        (
            json!({"ordered": false, "maxInFlight": 2}),
            DeliveryOptions {
                max_in_flight: Some(2),
                ordered: false,
                ..with_options().delivery
            },
        ),
        (
            json!({"retrySchedule": "10s,10s", "auth": {"type": "bearer", "token": "t"}}),
            DeliveryOptions {
                retry_schedule: schedule("10s,10s"),
                auth: bearer("t"),
                ..with_options().delivery
            },
        ),
    ];
    for (body, expected) in cases {
        let patch: EndpointPatch = serde_json::from_value(body.clone()).unwrap();
        let fields = patch.merge_into(with_options(), &GUARDED).unwrap();
        assert_eq!(fields.delivery, expected, "{body}");
    }
    let patch: EndpointPatch =
        serde_json::from_value(json!({"auth": {"type": "bearer", "token": ""}})).unwrap();
    let error = patch.merge_into(with_options(), &GUARDED).unwrap_err();
    assert_eq!(error_loc(error), json!(["body", "auth", "token"]));
}

#[test]
fn output_shows_delivery_options_but_never_credentials() {
    let cases = [
        (
            DeliveryOptions {
                max_in_flight: Some(3),
                ordered: true,
                retry_schedule: schedule("5s, 1m,1h"),
                auth: basic("hookd-user", "secret-password"),
            },
            json!({
                "maxInFlight": 3, "ordered": true, "retrySchedule": "5s,1m,1h",
                "auth": {"type": "basic", "username": "hookd-user"}
            }),
        ),
        (
            DeliveryOptions {
                auth: bearer("secret-token"),
                ..DeliveryOptions::default()
            },
            json!({"ordered": false, "auth": {"type": "bearer"}}),
        ),
        (DeliveryOptions::default(), json!({"ordered": false})),
    ];
    for (delivery, expected) in cases {
        let text = rendered(EndpointFields {
            delivery,
            ..current()
        });
        assert!(!text.contains("secret"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        for key in ["maxInFlight", "ordered", "retrySchedule", "auth"] {
            assert_eq!(json.get(key), expected.get(key), "{key} in {text}");
        }
    }
}
