//! hookd's own endpoint fields, beyond Svix's model: `maxInFlight`, `ordered`, `retrySchedule`
//! and `auth`. This module turns their JSON into `DeliveryOptions` values and renders them back;
//! `endpoints` decides what absent and `null` mean for create, update and PATCH.
//!
//! Outbound credentials go in and never come out: `auth` is rendered with its type and the
//! basic-auth username only, and the input type's `Debug` hides the secret, so neither a
//! response nor a log line can carry a password or a token. Error messages describe what is
//! wrong with a credential without quoting it.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::{ApiError, ApiResult};
use crate::domain::OutboundAuth;
use crate::policy::retry::RetrySchedule;

/// The largest per-endpoint in-flight cap a client may set.
pub const MAX_IN_FLIGHT_LIMIT: u32 = 1000;

/// The `auth` object of an endpoint body, before it is checked.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutboundAuthIn {
    Basic { username: String, password: String },
    Bearer { token: String },
}

impl fmt::Debug for OutboundAuthIn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutboundAuthIn::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .finish_non_exhaustive(),
            OutboundAuthIn::Bearer { .. } => f.write_str("Bearer { .. }"),
        }
    }
}

/// The `auth` of an endpoint as the API shows it: its type, and the username of basic auth.
/// There is deliberately no field that could hold the password or the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutboundAuthOut {
    Basic { username: String },
    Bearer,
}

impl From<&OutboundAuth> for OutboundAuthOut {
    fn from(auth: &OutboundAuth) -> Self {
        match auth {
            OutboundAuth::Basic { username, .. } => OutboundAuthOut::Basic {
                username: username.clone(),
            },
            OutboundAuth::Bearer { .. } => OutboundAuthOut::Bearer,
        }
    }
}

/// `maxInFlight`: between 1 and `MAX_IN_FLIGHT_LIMIT`.
pub fn parse_max_in_flight(value: i64) -> ApiResult<u32> {
    u32::try_from(value)
        .ok()
        .filter(|cap| (1..=MAX_IN_FLIGHT_LIMIT).contains(cap))
        .ok_or_else(|| {
            ApiError::invalid_body(
                &["maxInFlight"],
                format!("maxInFlight must be between 1 and {MAX_IN_FLIGHT_LIMIT}"),
            )
        })
}

/// `retrySchedule`, written as the server flag is (`5s,1m,1h`); an empty string means no
/// retries for this endpoint.
pub fn parse_retry_schedule(written: &str) -> ApiResult<RetrySchedule> {
    written
        .parse::<RetrySchedule>()
        .map_err(|error| ApiError::invalid_body(&["retrySchedule"], error.to_string()))
}

/// `auth`: every part non-empty and free of control characters (a CR or LF would split the
/// `Authorization` header), and a basic-auth username without `:`, which would end it early.
pub fn parse_auth(input: OutboundAuthIn) -> ApiResult<OutboundAuth> {
    match input {
        OutboundAuthIn::Basic { username, password } => {
            check_credential(&username, "username")?;
            if username.contains(':') {
                return Err(ApiError::invalid_body(
                    &["auth", "username"],
                    "username must not contain ':'",
                ));
            }
            check_credential(&password, "password")?;
            Ok(OutboundAuth::Basic { username, password })
        }
        OutboundAuthIn::Bearer { token } => {
            check_credential(&token, "token")?;
            Ok(OutboundAuth::Bearer { token })
        }
    }
}

fn check_credential(value: &str, field: &str) -> ApiResult<()> {
    if value.is_empty() {
        return Err(ApiError::invalid_body(
            &["auth", field],
            format!("{field} must not be empty"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid_body(
            &["auth", field],
            format!("{field} must not contain control characters such as CR or LF"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn error_body(error: ApiError) -> serde_json::Value {
        error.body()["detail"][0].clone()
    }

    #[test]
    fn max_in_flight_is_bounded() {
        let cases: [(i64, Option<u32>); 7] = [
            (1, Some(1)),
            (16, Some(16)),
            (1000, Some(1000)),
            (0, None),
            (-1, None),
            (1001, None),
            (i64::MAX, None),
        ];
        for (value, expected) in cases {
            match (parse_max_in_flight(value), expected) {
                (Ok(cap), Some(expected)) => assert_eq!(cap, expected, "{value}"),
                (Err(error), None) => {
                    assert_eq!(error_body(error)["loc"], json!(["body", "maxInFlight"]));
                }
                (result, _) => panic!("{value}: unexpected {result:?}"),
            }
        }
    }

    #[test]
    fn retry_schedules_parse_or_explain() {
        let schedule = parse_retry_schedule("5s, 1m,1h").unwrap();
        assert_eq!(
            schedule.delays(),
            [5, 60, 3600].map(Duration::from_secs).as_slice()
        );
        assert_eq!(schedule.to_string(), "5s,1m,1h");
        assert!(parse_retry_schedule("").unwrap().delays().is_empty());
        for (written, message) in [
            ("5s,,1m", "retry schedule entry 2 is empty"),
            ("5x", "unknown unit"),
            ("s", "must start with a whole number"),
        ] {
            let error = error_body(parse_retry_schedule(written).unwrap_err());
            assert_eq!(error["loc"], json!(["body", "retrySchedule"]), "{written}");
            let actual = error["msg"].as_str().unwrap();
            assert!(actual.contains(message), "{written}: {actual}");
        }
    }

    fn auth(body: serde_json::Value) -> ApiResult<OutboundAuth> {
        parse_auth(serde_json::from_value(body).unwrap())
    }

    #[test]
    fn credentials_are_checked_without_being_quoted() {
        assert_eq!(
            auth(json!({"type": "basic", "username": "hookd", "password": "p@ss word"})).unwrap(),
            OutboundAuth::Basic {
                username: "hookd".into(),
                password: "p@ss word".into()
            }
        );
        assert_eq!(
            auth(json!({"type": "bearer", "token": "tok.en-1"})).unwrap(),
            OutboundAuth::Bearer {
                token: "tok.en-1".into()
            }
        );
        let refused = [
            (
                json!({"type": "basic", "username": "", "password": "secret-1"}),
                "username",
            ),
            (
                json!({"type": "basic", "username": "a:b", "password": "secret-1"}),
                "username",
            ),
            (
                json!({"type": "basic", "username": "a\nb", "password": "secret-1"}),
                "username",
            ),
            (
                json!({"type": "basic", "username": "a", "password": ""}),
                "password",
            ),
            (
                json!({"type": "basic", "username": "a", "password": "secret-1\r\nX-Evil: 1"}),
                "password",
            ),
            (
                json!({"type": "basic", "username": "a", "password": "secret-1\u{7f}"}),
                "password",
            ),
            (json!({"type": "bearer", "token": ""}), "token"),
            (json!({"type": "bearer", "token": "secret-1\n"}), "token"),
            (json!({"type": "bearer", "token": "secret-1\t"}), "token"),
        ];
        for (body, field) in refused {
            let error = error_body(auth(body.clone()).expect_err(&body.to_string()));
            assert_eq!(error["loc"], json!(["body", "auth", field]), "{body}");
            assert!(!error.to_string().contains("secret-1"), "{body}: {error}");
        }
    }

    #[test]
    fn rendered_and_debugged_auth_hides_the_secret() {
        let cases = [
            (
                OutboundAuth::Basic {
                    username: "hookd".into(),
                    password: "secret-1".into(),
                },
                json!({"type": "basic", "username": "hookd"}),
            ),
            (
                OutboundAuth::Bearer {
                    token: "secret-1".into(),
                },
                json!({"type": "bearer"}),
            ),
        ];
        for (auth, expected) in cases {
            let rendered = serde_json::to_value(OutboundAuthOut::from(&auth)).unwrap();
            assert_eq!(rendered, expected);
        }
        let input: OutboundAuthIn = serde_json::from_value(
            json!({"type": "basic", "username": "hookd", "password": "secret-1"}),
        )
        .unwrap();
        assert!(!format!("{input:?}").contains("secret-1"));
        let input: OutboundAuthIn =
            serde_json::from_value(json!({"type": "bearer", "token": "secret-1"})).unwrap();
        assert!(!format!("{input:?}").contains("secret-1"));
    }
}
