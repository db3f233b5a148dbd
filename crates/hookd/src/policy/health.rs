//! The health rule for one endpoint after an attempt, written once for every backend: what its
//! failure count, rest and `failing_since` become, and whether the attempt disables it. The
//! store reads the stored health, asks `apply`, and writes the change (only when there is one,
//! so a healthy endpoint's success costs a read).
//!
//! - A success clears everything: no failures, no rest, not failing.
//! - A failure counts one more consecutive failure, sets `failing_since` if it was not failing,
//!   and rests the endpoint as `CircuitPolicy::rest_after_failure` says (the circuit from the
//!   threshold on, doubling; a `Retry-After`, capped).
//! - `410 Gone` disables the endpoint; so does failing since the attempt's
//!   `disable_if_failing_since` or earlier (`--disable-after`).

use std::time::Duration;

use super::backpressure::CircuitPolicy;

/// A point in time (the same as `domain::Timestamp`; policy imports nothing of the crate).
type Timestamp = chrono::DateTime<chrono::Utc>;

/// What the store keeps of an endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointHealth {
    /// The first failure after the last success; `None` while healthy.
    pub failing_since: Option<Timestamp>,
    pub consecutive_failures: u32,
    /// The end of a rest (circuit open or `Retry-After`); may lie in the past.
    pub resting_until: Option<Timestamp>,
}

/// What of an attempt bears on its endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptResult {
    pub succeeded: bool,
    /// When the attempt was made.
    pub at: Timestamp,
    /// The receiver's `Retry-After`, which rests the whole endpoint.
    pub retry_after: Option<Duration>,
    /// The receiver answered `410 Gone`.
    pub gone: bool,
    /// Disable the endpoint if, after this attempt, it has been failing since this time or
    /// earlier.
    pub disable_if_failing_since: Option<Timestamp>,
}

/// Why an attempt disabled its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableReason {
    /// The receiver answered `410 Gone`.
    Gone,
    /// The endpoint has been failing for longer than `--disable-after`.
    FailingTooLong,
}

/// What an attempt does to its endpoint's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthChange {
    /// The endpoint's health after the attempt.
    pub after: EndpointHealth,
    /// Whether `after` differs from what is stored: if not, there is nothing to write.
    pub changed: bool,
    /// Disable the endpoint (and park its deliveries).
    pub disable: Option<DisableReason>,
}

impl HealthChange {
    /// Whether the change resets the failure count rather than adding this failure to it. A
    /// store that lets concurrent recorders add up writes the count relative to the stored one.
    pub fn resets_failures(&self) -> bool {
        self.after.consecutive_failures == 0
    }
}

/// The health of an endpoint after `attempt`.
pub fn apply(
    health: &EndpointHealth,
    attempt: &AttemptResult,
    circuit: &CircuitPolicy,
) -> HealthChange {
    let after = if attempt.succeeded {
        EndpointHealth::default()
    } else {
        let consecutive_failures = health.consecutive_failures.saturating_add(1);
        EndpointHealth {
            failing_since: health.failing_since.or(Some(attempt.at)),
            consecutive_failures,
            resting_until: circuit.rest_after_failure(
                consecutive_failures,
                attempt.retry_after,
                health.resting_until,
                attempt.at,
            ),
        }
    };
    let failing_too_long = match (after.failing_since, attempt.disable_if_failing_since) {
        (Some(since), Some(limit)) => since <= limit,
        _ => false,
    };
    let disable = if attempt.gone {
        Some(DisableReason::Gone)
    } else if failing_too_long {
        Some(DisableReason::FailingTooLong)
    } else {
        None
    };
    HealthChange {
        after,
        changed: after != *health,
        disable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Timestamp {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    fn health(since: Option<i64>, failures: u32, resting: Option<i64>) -> EndpointHealth {
        EndpointHealth {
            failing_since: since.map(at),
            consecutive_failures: failures,
            resting_until: resting.map(at),
        }
    }

    /// A failed attempt at second 1000 with no `Retry-After`, not 410, no disable-after.
    fn failure() -> AttemptResult {
        AttemptResult {
            succeeded: false,
            at: at(1_000),
            retry_after: None,
            gone: false,
            disable_if_failing_since: None,
        }
    }

    fn success() -> AttemptResult {
        AttemptResult {
            succeeded: true,
            ..failure()
        }
    }

    #[test]
    fn health_after_an_attempt() {
        let healthy = EndpointHealth::default();
        let gone = Some(DisableReason::Gone);
        let too_long = Some(DisableReason::FailingTooLong);
        #[rustfmt::skip]
        let cases: Vec<(&str, EndpointHealth, AttemptResult, EndpointHealth, Option<DisableReason>)> = vec![
            ("a healthy endpoint's success", healthy, success(), healthy, None),
            ("success clears failures, rest and failing_since",
             health(Some(900), 7, Some(1_300)), success(), healthy, None),
            ("the first failure starts failing_since", healthy, failure(), health(Some(1_000), 1, None), None),
            ("a later failure keeps failing_since",
             health(Some(900), 1, None), failure(), health(Some(900), 2, None), None),
            ("the fifth failure rests 5 s",
             health(Some(900), 4, None), failure(), health(Some(900), 5, Some(1_005)), None),
            ("a failed probe rests twice as long",
             health(Some(900), 5, Some(995)), failure(), health(Some(900), 6, Some(1_010)), None),
            ("and doubles again",
             health(Some(900), 6, Some(990)), failure(), health(Some(900), 7, Some(1_020)), None),
            ("a failure already in flight does not restart a running rest",
             health(Some(900), 5, Some(1_003)), failure(), health(Some(900), 6, Some(1_003)), None),
            ("Retry-After rests the endpoint",
             healthy, AttemptResult { retry_after: Some(Duration::from_secs(30)), ..failure() },
             health(Some(1_000), 1, Some(1_030)), None),
            ("Retry-After is capped at an hour",
             healthy, AttemptResult { retry_after: Some(Duration::from_secs(86_400)), ..failure() },
             health(Some(1_000), 1, Some(4_600)), None),
            ("410 disables", healthy, AttemptResult { gone: true, ..failure() },
             health(Some(1_000), 1, None), gone),
            ("failing longer than disable-after disables",
             health(Some(900), 2, None), AttemptResult { disable_if_failing_since: Some(at(950)), ..failure() },
             health(Some(900), 3, None), too_long),
            ("failing since exactly the limit disables",
             health(Some(950), 2, None), AttemptResult { disable_if_failing_since: Some(at(950)), ..failure() },
             health(Some(950), 3, None), too_long),
            ("failing for less than disable-after does not",
             health(Some(960), 2, None), AttemptResult { disable_if_failing_since: Some(at(950)), ..failure() },
             health(Some(960), 3, None), None),
            ("a success never disables for failing",
             health(Some(900), 2, None), AttemptResult { disable_if_failing_since: Some(at(950)), ..success() },
             healthy, None),
        ];
        for (name, before, attempt, expected, disable) in cases {
            let change = apply(&before, &attempt, &CircuitPolicy::default());
            assert_eq!(change.after, expected, "{name}");
            assert_eq!(change.disable, disable, "{name}");
            assert_eq!(change.changed, expected != before, "{name}: changed");
            assert_eq!(
                change.resets_failures(),
                attempt.succeeded,
                "{name}: resets"
            );
        }
    }
}
