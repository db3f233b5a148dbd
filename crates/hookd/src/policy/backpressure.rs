//! Endpoint health and throttling as pure policy: when a failing endpoint rests, and how many
//! deliveries a `throttleRate` allows right now.
//!
//! The store keeps the state (consecutive failures, the pause, token buckets) in the database so
//! that every node sees the same, and calls these functions inside its transactions. Nothing here
//! does I/O or reads a clock: `now` is always an argument.
//!
//! - **Circuit breaker**: after `failure_threshold` consecutive failures the endpoint rests for a
//!   backoff that doubles with each further failure (5 s, 10 s, ... up to 10 min). When the rest is
//!   over, one probe goes alone (the store allows a single delivery in flight while the failure
//!   count is at or above the threshold); a success resets everything.
//! - **Retry-After**: a failure that carries it rests the whole endpoint that long (capped).
//! - **Throttle**: a token bucket of `rate` tokens a second holding a tenth of a second's worth
//!   (at least one token), so no one-second window sees much more than the rate.

use std::time::Duration;

/// A point in time (the same as `domain::Timestamp`; policy imports nothing of the crate).
type Timestamp = chrono::DateTime<chrono::Utc>;

/// When a failing endpoint rests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitPolicy {
    pub failure_threshold: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest rest a `Retry-After` can impose on a whole endpoint.
    pub max_pause: Duration,
}

impl Default for CircuitPolicy {
    fn default() -> Self {
        CircuitPolicy {
            failure_threshold: 5,
            initial_backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(600),
            max_pause: Duration::from_secs(3600),
        }
    }
}

impl CircuitPolicy {
    /// The endpoint's rest after a failed attempt, given its consecutive failures counting this
    /// one, any `Retry-After`, and the rest it already has. A rest that is still running is only
    /// ever lengthened by a `Retry-After`; the circuit backoff starts when no rest is running
    /// (on opening, and on a failed probe).
    pub fn rest_after_failure(
        &self,
        consecutive_failures: u32,
        retry_after: Option<Duration>,
        resting_until: Option<Timestamp>,
        now: Timestamp,
    ) -> Option<Timestamp> {
        let running = resting_until.filter(|until| *until > now);
        let asked = retry_after.map(|delay| now + to_chrono(delay.min(self.max_pause)));
        let mut until = running.max(asked);
        if consecutive_failures >= self.failure_threshold && running.is_none() {
            let doublings = (consecutive_failures - self.failure_threshold).min(16);
            let backoff = self
                .initial_backoff
                .saturating_mul(1 << doublings)
                .min(self.max_backoff);
            until = until.max(Some(now + to_chrono(backoff)));
        }
        until
    }

    /// Whether the endpoint is down to a single probe in flight.
    pub fn is_probing(&self, consecutive_failures: u32) -> bool {
        consecutive_failures >= self.failure_threshold
    }
}

/// A token bucket's stored state. No stored state means a full bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub tokens: f64,
    pub updated: Timestamp,
}

/// Most tokens a bucket for `rate` holds.
pub fn bucket_capacity(rate: u32) -> f64 {
    (f64::from(rate.max(1)) / 10.0).max(1.0)
}

/// The tokens in the bucket at `now`.
pub fn tokens_at(rate: u32, bucket: Option<Bucket>, now: Timestamp) -> f64 {
    let capacity = bucket_capacity(rate);
    match bucket {
        None => capacity,
        Some(bucket) => {
            let elapsed = (now - bucket.updated).to_std().unwrap_or_default();
            (bucket.tokens + elapsed.as_secs_f64() * f64::from(rate.max(1))).min(capacity)
        }
    }
}

/// How long until a bucket holding `tokens` holds a whole one.
pub fn time_to_token(rate: u32, tokens: f64) -> Duration {
    let missing = (1.0 - tokens).max(0.0);
    Duration::from_secs_f64(missing / f64::from(rate.max(1)))
}

fn to_chrono(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn at(seconds: i64) -> Timestamp {
        Utc.timestamp_opt(seconds, 0).unwrap()
    }

    fn check(failures: u32, retry_after: Option<u64>, resting: Option<i64>, expected: Option<i64>) {
        let policy = CircuitPolicy::default();
        let rest = policy.rest_after_failure(
            failures,
            retry_after.map(Duration::from_secs),
            resting.map(at),
            at(1000),
        );
        assert_eq!(
            rest,
            expected.map(at),
            "{failures} failures, retry-after {retry_after:?}, resting {resting:?}"
        );
    }

    #[test]
    fn rests() {
        check(1, None, None, None);
        check(4, None, None, None);
        check(5, None, None, Some(1005)); // opens for 5 s
        check(6, None, None, Some(1010));
        check(7, None, None, Some(1020));
        check(30, None, None, Some(1600)); // capped at 10 min
        // A rest that is running is not restarted by failures that were already in flight.
        check(6, None, Some(1003), Some(1003));
        // Retry-After rests the endpoint, lengthens a running rest, and is capped at an hour.
        check(1, Some(30), None, Some(1030));
        check(6, Some(30), Some(1003), Some(1030));
        check(1, Some(999_999), None, Some(4600));
        // A rest that is over does not count.
        check(1, None, Some(900), None);
    }

    #[test]
    fn buckets() {
        assert_eq!(bucket_capacity(5), 1.0);
        assert_eq!(bucket_capacity(1000), 100.0);
        assert_eq!(tokens_at(5, None, at(0)), 1.0); // no state is a full bucket
        let empty = Some(Bucket {
            tokens: 0.0,
            updated: at(100),
        });
        assert_eq!(tokens_at(5, empty, at(100)), 0.0);
        assert!(
            (tokens_at(5, empty, at(100) + chrono::Duration::milliseconds(100)) - 0.5).abs() < 1e-9
        );
        assert_eq!(tokens_at(5, empty, at(200)), 1.0, "never above capacity");
        assert_eq!(time_to_token(5, 0.0), Duration::from_millis(200));
        assert_eq!(time_to_token(5, 1.5), Duration::ZERO);
    }
}
