//! What one delivery attempt came to, as a value: delivered, or failed with a stable failure code,
//! the receiver's status if it answered, and how long it asked us to wait (`Retry-After`). This
//! module owns the codes' spelling and the mapping from a response status to an outcome. It is
//! pure: it must not do I/O or read the clock (the caller passes "now"), and it does not decide
//! whether to retry; that is the dispatcher's job, using `super::retry`.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// Why an attempt failed. The `as_str` spellings are stored and shown to API users, so they must
/// never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureCode {
    /// No response status and headers arrived within the configured timeout.
    Timeout,
    /// The receiver sent its status and headers in time, but not the rest of its body: the
    /// attempt fails even on a 2xx, since a receiver that never finishes answering is not
    /// healthy (and must be able to trip the circuit breaker).
    BodyTimeout,
    /// The receiver could not be reached: name resolution failed or the connection was refused.
    Connect,
    /// The TLS handshake failed, for example because of an invalid certificate.
    Tls,
    /// The target resolves to, or is, an address the SSRF guard refuses.
    SsrfBlocked,
    /// The receiver answered with a status other than 2xx or 3xx.
    HttpStatus,
    /// The receiver answered with a redirect, which is never followed.
    Redirect,
    /// The endpoint URL cannot be used (scheme, embedded credentials, malformed).
    InvalidUrl,
    /// The receiver reset the connection (TCP RST) before its response was complete.
    ConnectionReset,
    /// The receiver's status line and headers exceed what the client reads (too many headers,
    /// or too many bytes of them).
    ResponseHeadersTooLarge,
    /// What came back is not an HTTP response: a garbled or truncated status line or header, or
    /// the connection closed before the response head was complete.
    MalformedResponse,
    /// The connection failed after it was established.
    Io,
    /// No secret of the endpoint could sign the request, so it was not sent: hookd never sends
    /// an unsigned webhook.
    SigningFailed,
    /// The endpoint's transformation failed (threw, ran past its time or memory limit, or
    /// returned an unusable webhook), so nothing was sent. It is deterministic: the delivery
    /// gives up at once instead of retrying.
    TransformationFailed,
    /// Anything else.
    Other,
}

/// A failure code that is not one of [`FailureCode`]'s spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown failure code {0:?}")]
pub struct UnknownFailureCode(pub String);

/// The result of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered {
        status: u16,
    },
    Failed {
        code: FailureCode,
        /// The receiver's status, when it answered at all.
        status: Option<u16>,
        /// How long the receiver asked us to wait, already capped at [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
}

/// The longest `Retry-After` honoured. A receiver cannot park a message for longer than this.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

impl FailureCode {
    /// Every code, in declaration order.
    pub const ALL: [FailureCode; 15] = [
        FailureCode::Timeout,
        FailureCode::BodyTimeout,
        FailureCode::Connect,
        FailureCode::Tls,
        FailureCode::SsrfBlocked,
        FailureCode::HttpStatus,
        FailureCode::Redirect,
        FailureCode::InvalidUrl,
        FailureCode::ConnectionReset,
        FailureCode::ResponseHeadersTooLarge,
        FailureCode::MalformedResponse,
        FailureCode::Io,
        FailureCode::SigningFailed,
        FailureCode::TransformationFailed,
        FailureCode::Other,
    ];

    /// The stable snake_case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::Timeout => "timeout",
            FailureCode::BodyTimeout => "body_timeout",
            FailureCode::Connect => "connect",
            FailureCode::Tls => "tls",
            FailureCode::SsrfBlocked => "ssrf_blocked",
            FailureCode::HttpStatus => "http_status",
            FailureCode::Redirect => "redirect",
            FailureCode::InvalidUrl => "invalid_url",
            FailureCode::ConnectionReset => "connection_reset",
            FailureCode::ResponseHeadersTooLarge => "response_headers_too_large",
            FailureCode::MalformedResponse => "malformed_response",
            FailureCode::Io => "io",
            FailureCode::SigningFailed => "signing_failed",
            FailureCode::TransformationFailed => "transformation_failed",
            FailureCode::Other => "other",
        }
    }
}

impl fmt::Display for FailureCode {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

impl FromStr for FailureCode {
    type Err = UnknownFailureCode;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        FailureCode::ALL
            .into_iter()
            .find(|candidate| candidate.as_str() == code)
            .ok_or_else(|| UnknownFailureCode(code.to_owned()))
    }
}

impl AttemptOutcome {
    /// A failure before any response arrived.
    pub fn failed_without_response(code: FailureCode) -> Self {
        AttemptOutcome::Failed {
            code,
            status: None,
            retry_after: None,
        }
    }

    pub fn is_delivered(&self) -> bool {
        matches!(self, AttemptOutcome::Delivered { .. })
    }

    /// The receiver's status, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            AttemptOutcome::Delivered { status } => Some(*status),
            AttemptOutcome::Failed { status, .. } => *status,
        }
    }

    /// The outcome once the response body could not be read to its end (or to the prefix limit)
    /// because of `body_failure`. A 2xx then fails with that code, keeping its status: the
    /// receiver never finished answering. A failed status keeps its own code and `Retry-After`,
    /// which already say more about the receiver than the broken body does.
    pub fn with_unfinished_body(self, body_failure: FailureCode) -> Self {
        match self {
            AttemptOutcome::Delivered { status } => AttemptOutcome::Failed {
                code: body_failure,
                status: Some(status),
                retry_after: None,
            },
            failed @ AttemptOutcome::Failed { .. } => failed,
        }
    }

    /// The failure code, when the attempt failed.
    pub fn failure_code(&self) -> Option<FailureCode> {
        match self {
            AttemptOutcome::Delivered { .. } => None,
            AttemptOutcome::Failed { code, .. } => Some(*code),
        }
    }
}

/// Classifies a response by its status: 2xx is delivered, 3xx is a redirect we do not follow, and
/// everything else is a failed status. `retry_after_header` is the raw `Retry-After` value, if
/// any; `now` is needed to turn an HTTP-date into a delay.
pub fn classify_status(
    status: u16,
    retry_after_header: Option<&str>,
    now: SystemTime,
) -> AttemptOutcome {
    let code = match status {
        200..=299 => return AttemptOutcome::Delivered { status },
        300..=399 => FailureCode::Redirect,
        _ => FailureCode::HttpStatus,
    };
    AttemptOutcome::Failed {
        code,
        status: Some(status),
        retry_after: retry_after_header.and_then(|value| parse_retry_after(value, now)),
    }
}

/// Reads a `Retry-After` value (RFC 9110 section 10.2.3): either a number of seconds or an
/// HTTP-date in any of its three formats. Dates in the past mean "now"; long waits are capped at
/// [`MAX_RETRY_AFTER`]. Anything else is ignored (`None`), as the RFC allows.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let delay = if !value.is_empty() && value.bytes().all(|byte| byte.is_ascii_digit()) {
        // A run of digits too long for u64 is still a valid, very long delay.
        value
            .parse::<u64>()
            .map_or(MAX_RETRY_AFTER, Duration::from_secs)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    /// Sun, 06 Nov 1994 08:49:37 GMT, the example date of RFC 9110.
    fn rfc_example_now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    fn failed(code: FailureCode, status: u16, retry_after: Option<u64>) -> AttemptOutcome {
        AttemptOutcome::Failed {
            code,
            status: Some(status),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    #[test]
    fn statuses_are_classified() {
        use FailureCode::{HttpStatus, Redirect};
        let cases = [
            (200, None, AttemptOutcome::Delivered { status: 200 }),
            (204, Some("120"), AttemptOutcome::Delivered { status: 204 }),
            (299, None, AttemptOutcome::Delivered { status: 299 }),
            (101, None, failed(HttpStatus, 101, None)),
            (199, None, failed(HttpStatus, 199, None)),
            (300, None, failed(Redirect, 300, None)),
            (301, None, failed(Redirect, 301, None)),
            (302, None, failed(Redirect, 302, None)),
            (308, None, failed(Redirect, 308, None)),
            (399, None, failed(Redirect, 399, None)),
            (400, None, failed(HttpStatus, 400, None)),
            (410, None, failed(HttpStatus, 410, None)),
            (429, Some("30"), failed(HttpStatus, 429, Some(30))),
            (500, None, failed(HttpStatus, 500, None)),
            (
                503,
                Some("Sun, 06 Nov 1994 08:51:37 GMT"),
                failed(HttpStatus, 503, Some(120)),
            ),
            (503, Some("soon"), failed(HttpStatus, 503, None)),
            (599, None, failed(HttpStatus, 599, None)),
            (999, None, failed(HttpStatus, 999, None)),
        ];
        for (status, retry_after, expected) in cases {
            assert_eq!(
                classify_status(status, retry_after, rfc_example_now()),
                expected,
                "classify_status({status}, {retry_after:?})"
            );
        }
    }

    #[test]
    fn retry_after_values_are_parsed_and_capped() {
        let day = MAX_RETRY_AFTER.as_secs();
        let cases = [
            ("0", Some(0)),
            ("120", Some(120)),
            ("  45 ", Some(45)),
            ("86400", Some(day)),
            ("86401", Some(day)),
            ("99999999999999999999999999", Some(day)),
            // The three HTTP-date formats RFC 9110 requires recipients to accept.
            ("Sun, 06 Nov 1994 08:49:47 GMT", Some(10)),
            ("Sunday, 06-Nov-94 08:49:57 GMT", Some(20)),
            ("Sun Nov  6 08:50:07 1994", Some(30)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(0)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("Mon, 07 Nov 1994 08:49:38 GMT", Some(day)),
            ("", None),
            ("-5", None),
            ("1.5", None),
            ("+30", None),
            ("30 seconds", None),
            ("tomorrow", None),
        ];
        for (value, expected) in cases {
            assert_eq!(
                parse_retry_after(value, rfc_example_now()),
                expected.map(Duration::from_secs),
                "parse_retry_after({value:?})"
            );
        }
    }

    #[test]
    fn failure_codes_have_stable_spellings_that_round_trip() {
        let cases = [
            (FailureCode::Timeout, "timeout"),
            (FailureCode::BodyTimeout, "body_timeout"),
            (FailureCode::Connect, "connect"),
            (FailureCode::Tls, "tls"),
            (FailureCode::SsrfBlocked, "ssrf_blocked"),
            (FailureCode::HttpStatus, "http_status"),
            (FailureCode::Redirect, "redirect"),
            (FailureCode::InvalidUrl, "invalid_url"),
            (FailureCode::ConnectionReset, "connection_reset"),
            (
                FailureCode::ResponseHeadersTooLarge,
                "response_headers_too_large",
            ),
            (FailureCode::MalformedResponse, "malformed_response"),
            (FailureCode::Io, "io"),
            (FailureCode::SigningFailed, "signing_failed"),
            (FailureCode::TransformationFailed, "transformation_failed"),
            (FailureCode::Other, "other"),
        ];
        assert_eq!(cases.len(), FailureCode::ALL.len());
        for (code, spelling) in cases {
            assert_eq!(code.as_str(), spelling);
            assert_eq!(code.to_string(), spelling);
            assert_eq!(spelling.parse::<FailureCode>(), Ok(code));
        }
        for unknown in ["", "Timeout", "ssrf-blocked", "connect_refused"] {
            assert_eq!(
                unknown.parse::<FailureCode>(),
                Err(UnknownFailureCode(unknown.to_owned()))
            );
        }
    }

    #[test]
    fn an_unfinished_body_fails_a_2xx_and_leaves_other_failures_alone() {
        use FailureCode::{BodyTimeout, ConnectionReset, HttpStatus, Redirect};
        let cases = [
            (
                AttemptOutcome::Delivered { status: 200 },
                BodyTimeout,
                failed(BodyTimeout, 200, None),
            ),
            (
                AttemptOutcome::Delivered { status: 204 },
                ConnectionReset,
                failed(ConnectionReset, 204, None),
            ),
            (
                failed(HttpStatus, 503, Some(30)),
                BodyTimeout,
                failed(HttpStatus, 503, Some(30)),
            ),
            (
                failed(Redirect, 302, None),
                ConnectionReset,
                failed(Redirect, 302, None),
            ),
        ];
        for (outcome, body_failure, expected) in cases {
            assert_eq!(
                outcome.clone().with_unfinished_body(body_failure),
                expected,
                "{outcome:?} with {body_failure}"
            );
        }
    }

    #[test]
    fn outcome_accessors() {
        let delivered = AttemptOutcome::Delivered { status: 201 };
        assert!(delivered.is_delivered());
        assert_eq!(delivered.status(), Some(201));
        assert_eq!(delivered.failure_code(), None);

        let timed_out = AttemptOutcome::failed_without_response(FailureCode::Timeout);
        assert!(!timed_out.is_delivered());
        assert_eq!(timed_out.status(), None);
        assert_eq!(timed_out.failure_code(), Some(FailureCode::Timeout));
    }
}
