//! The claim rule for one endpoint, written once for every backend: given what the store read
//! of an endpoint (its settings, its live leases on every node, its health and throttle
//! buckets) and what this claim allows it, decide whether to take deliveries and how many, or
//! to postpone, park or pass it by. The backends only fetch the state and apply the plan.
//!
//! The rules, in the order they apply:
//! - an endpoint that is gone is forgotten; a disabled one is parked (its pending deliveries
//!   are kept, not sent);
//! - a resting endpoint (circuit open or `Retry-After`) is postponed to the end of its rest;
//! - at most `maxInFlight` (or the default) leases live at once, counted over every node, and
//!   never more than this node's allowance or the claim's share;
//! - an ordered (FIFO) endpoint, or a failing one whose rest is over (the single probe), takes
//!   one delivery and only while nothing of it is in flight;
//! - an empty throttle bucket (the endpoint's, then the application's) postpones the endpoint
//!   to its next token, and a bucket caps what is taken at its whole tokens.

use super::backpressure::{Bucket, CircuitPolicy, time_to_token, tokens_at};
use super::claim_budget::ClaimBudget;

/// A point in time (the same as `domain::Timestamp`; policy imports nothing of the crate).
type Timestamp = chrono::DateTime<chrono::Utc>;

/// What the store knows of an endpoint when a claim visits it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointClaimState {
    pub disabled: bool,
    /// FIFO: only the oldest pending delivery may go, one at a time.
    pub ordered: bool,
    /// The endpoint's `maxInFlight`; `None` takes the budget's default.
    pub max_in_flight: Option<u32>,
    /// Deliveries of the endpoint under a live lease, on every node.
    pub live_leases: u32,
    pub consecutive_failures: u32,
    pub resting_until: Option<Timestamp>,
    /// The endpoint's own throttle, if it has a `throttleRate`.
    pub endpoint_throttle: Option<Throttle>,
    /// The application's throttle as this claim has left it, if it has a `throttleRate`.
    pub app_throttle: Option<Throttle>,
}

/// A throttle's token bucket as it stands now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    /// Tokens a second.
    pub rate: u32,
    /// Tokens in the bucket now (may be fractional).
    pub tokens: f64,
}

impl Throttle {
    /// The bucket for `rate` at `now`, from its stored state (none is a full bucket).
    pub fn at(rate: u32, stored: Option<Bucket>, now: Timestamp) -> Self {
        Throttle {
            rate,
            tokens: tokens_at(rate, stored, now),
        }
    }

    /// Takes one token for each delivery taken.
    pub fn spend(&mut self, taken: usize) {
        self.tokens -= taken as f64;
    }

    /// When the bucket holds a whole token again, if it does not now.
    fn empty_until(&self, now: Timestamp) -> Option<Timestamp> {
        (self.tokens < 1.0).then(|| {
            now + chrono::Duration::from_std(time_to_token(self.rate, self.tokens))
                .unwrap_or_default()
        })
    }

    /// The whole tokens in the bucket.
    fn whole_tokens(&self) -> usize {
        self.tokens.max(0.0).floor() as usize
    }
}

/// What this claim allows one endpoint, besides the endpoint's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimits {
    /// The endpoint's share of the claim (see `claim_order::ClaimShares`).
    pub share: usize,
    /// This node's adaptive limit for the endpoint, if it has one.
    pub allowance: Option<u32>,
    pub default_max_in_flight: u32,
    pub circuit: CircuitPolicy,
}

impl<Id: Eq + std::hash::Hash> ClaimBudget<Id> {
    /// What this claim allows `endpoint_id` when its turn gives it `share`.
    pub fn limits(&self, endpoint_id: &Id, share: usize) -> ClaimLimits {
        ClaimLimits {
            share,
            allowance: self.allowance(endpoint_id),
            default_max_in_flight: self.default_max_in_flight,
            circuit: self.circuit,
        }
    }
}

/// What a claim does with one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimPlan {
    /// The endpoint is gone (its deliveries went with it): drop its queue entry.
    Forget,
    /// The endpoint is disabled: park its pending, unleased deliveries.
    Park,
    /// Resting or throttled: set its queue entry to this time. Waiting is not an attempt.
    Postpone(Timestamp),
    /// Nothing may go now (its limit, an ordered head or a probe in flight, this node's
    /// allowance): take nothing and recompute the queue entry.
    Skip,
    /// Lease at most `at_most` of its due deliveries, earliest due first; with `head_only`, only
    /// the oldest pending delivery, and only if it is due.
    Take { at_most: usize, head_only: bool },
}

/// Plans a claim's visit to one endpoint; `state` is `None` when the endpoint is gone.
pub fn plan(state: Option<&EndpointClaimState>, limits: &ClaimLimits, now: Timestamp) -> ClaimPlan {
    let Some(state) = state else {
        return ClaimPlan::Forget;
    };
    if state.disabled {
        return ClaimPlan::Park;
    }
    if let Some(until) = state.resting_until.filter(|until| *until > now) {
        return ClaimPlan::Postpone(until);
    }
    let max_in_flight = state.max_in_flight.unwrap_or(limits.default_max_in_flight);
    let mut room = usize::try_from(max_in_flight.saturating_sub(state.live_leases)).unwrap_or(0);
    if let Some(allowance) = limits.allowance {
        room = room.min(usize::try_from(allowance).unwrap_or(0));
    }
    if state.ordered || limits.circuit.is_probing(state.consecutive_failures) {
        // FIFO, or a failing endpoint's single probe: one at a time, across every node.
        room = if state.live_leases == 0 {
            room.min(1)
        } else {
            0
        };
    }
    for throttle in state.endpoint_throttle.iter().chain(&state.app_throttle) {
        if let Some(ready) = throttle.empty_until(now) {
            return ClaimPlan::Postpone(ready);
        }
        room = room.min(throttle.whole_tokens());
    }
    match room.min(limits.share) {
        0 => ClaimPlan::Skip,
        at_most => ClaimPlan::Take {
            at_most,
            head_only: state.ordered,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn now() -> Timestamp {
        Utc.timestamp_opt(1_000, 0).unwrap()
    }

    fn millis_later(millis: i64) -> Timestamp {
        now() + chrono::Duration::milliseconds(millis)
    }

    /// An enabled, healthy, unthrottled endpoint with nothing in flight.
    fn idle() -> EndpointClaimState {
        EndpointClaimState {
            disabled: false,
            ordered: false,
            max_in_flight: None,
            live_leases: 0,
            consecutive_failures: 0,
            resting_until: None,
            endpoint_throttle: None,
            app_throttle: None,
        }
    }

    /// A share of 10, no allowance, a default of 4 in flight, the default circuit (5 failures).
    fn limits() -> ClaimLimits {
        ClaimLimits {
            share: 10,
            allowance: None,
            default_max_in_flight: 4,
            circuit: CircuitPolicy::default(),
        }
    }

    fn throttle(rate: u32, tokens: f64) -> Option<Throttle> {
        Some(Throttle { rate, tokens })
    }

    fn take(at_most: usize) -> ClaimPlan {
        ClaimPlan::Take {
            at_most,
            head_only: false,
        }
    }

    #[test]
    fn plans() {
        let head = ClaimPlan::Take {
            at_most: 1,
            head_only: true,
        };
        #[rustfmt::skip]
        let cases: Vec<(&str, Option<EndpointClaimState>, ClaimLimits, ClaimPlan)> = vec![
            ("gone", None, limits(), ClaimPlan::Forget),
            ("disabled", Some(EndpointClaimState { disabled: true, ..idle() }), limits(), ClaimPlan::Park),
            ("disabled while resting parks",
             Some(EndpointClaimState { disabled: true, resting_until: Some(millis_later(5_000)), ..idle() }),
             limits(), ClaimPlan::Park),
            ("resting postpones to the rest's end",
             Some(EndpointClaimState { resting_until: Some(millis_later(30_000)), ..idle() }),
             limits(), ClaimPlan::Postpone(millis_later(30_000))),
            ("a rest that is over does not count",
             Some(EndpointClaimState { resting_until: Some(millis_later(-1)), ..idle() }),
             limits(), take(4)),
            ("the default limit", Some(idle()), limits(), take(4)),
            ("the endpoint's own limit", Some(EndpointClaimState { max_in_flight: Some(8), ..idle() }),
             limits(), take(8)),
            ("the share caps", Some(EndpointClaimState { max_in_flight: Some(8), ..idle() }),
             ClaimLimits { share: 3, ..limits() }, take(3)),
            ("no share", Some(idle()), ClaimLimits { share: 0, ..limits() }, ClaimPlan::Skip),
            ("other nodes' leases use the room", Some(EndpointClaimState { live_leases: 3, ..idle() }),
             limits(), take(1)),
            ("limit reached by other nodes' leases", Some(EndpointClaimState { live_leases: 4, ..idle() }),
             limits(), ClaimPlan::Skip),
            ("more leases than the limit", Some(EndpointClaimState { live_leases: 9, ..idle() }),
             limits(), ClaimPlan::Skip),
            ("this node's allowance caps", Some(idle()), ClaimLimits { allowance: Some(2), ..limits() }, take(2)),
            ("this node's allowance is spent", Some(idle()), ClaimLimits { allowance: Some(0), ..limits() },
             ClaimPlan::Skip),
            ("FIFO takes the head alone", Some(EndpointClaimState { ordered: true, ..idle() }), limits(), head),
            ("FIFO is blocked while one is in flight",
             Some(EndpointClaimState { ordered: true, live_leases: 1, max_in_flight: Some(8), ..idle() }),
             limits(), ClaimPlan::Skip),
            ("FIFO within this node's allowance",
             Some(EndpointClaimState { ordered: true, ..idle() }),
             ClaimLimits { allowance: Some(0), ..limits() }, ClaimPlan::Skip),
            ("below the threshold, failures do not limit",
             Some(EndpointClaimState { consecutive_failures: 4, ..idle() }), limits(), take(4)),
            ("rest over with failures at the threshold: a single probe",
             Some(EndpointClaimState { consecutive_failures: 5, resting_until: Some(millis_later(-1)), ..idle() }),
             limits(), take(1)),
            ("a probe in flight blocks the next",
             Some(EndpointClaimState { consecutive_failures: 7, live_leases: 1, ..idle() }),
             limits(), ClaimPlan::Skip),
            ("throttle empty: postpone to its next token",
             Some(EndpointClaimState { endpoint_throttle: throttle(5, 0.5), ..idle() }),
             limits(), ClaimPlan::Postpone(millis_later(100))),
            ("throttle caps at its whole tokens",
             Some(EndpointClaimState { endpoint_throttle: throttle(50, 2.7), ..idle() }),
             limits(), take(2)),
            ("application throttle empty",
             Some(EndpointClaimState { app_throttle: throttle(10, 0.0), ..idle() }),
             limits(), ClaimPlan::Postpone(millis_later(100))),
            ("application and endpoint throttle: the smaller caps",
             Some(EndpointClaimState { endpoint_throttle: throttle(50, 3.0), app_throttle: throttle(50, 1.5), ..idle() }),
             limits(), take(1)),
            ("both throttles empty: the endpoint's token decides",
             Some(EndpointClaimState { endpoint_throttle: throttle(1, 0.0), app_throttle: throttle(10, 0.0), ..idle() }),
             limits(), ClaimPlan::Postpone(millis_later(1_000))),
            ("an empty throttle postpones even at the limit",
             Some(EndpointClaimState { live_leases: 4, endpoint_throttle: throttle(5, 0.0), ..idle() }),
             limits(), ClaimPlan::Postpone(millis_later(200))),
            ("a throttle does not lift FIFO",
             Some(EndpointClaimState { ordered: true, endpoint_throttle: throttle(50, 5.0), ..idle() }),
             limits(), head),
        ];
        for (name, state, limits, expected) in cases {
            assert_eq!(plan(state.as_ref(), &limits, now()), expected, "{name}");
        }
    }

    #[test]
    fn throttles_refill_from_their_stored_state_and_spend_a_token_a_delivery() {
        let stored = Bucket {
            tokens: 0.0,
            updated: now(),
        };
        let mut bucket = Throttle::at(10, Some(stored), millis_later(250));
        assert!((bucket.tokens - 1.0).abs() < 1e-9, "{bucket:?}: capacity 1");
        bucket.spend(1);
        assert!(bucket.tokens.abs() < 1e-9);
        assert_eq!(
            Throttle::at(100, None, now()).tokens,
            10.0,
            "no state is full"
        );
    }

    #[test]
    fn limits_come_from_the_budget() {
        let mut budget = ClaimBudget {
            default_max_in_flight: 7,
            ..ClaimBudget::default()
        };
        budget.endpoint_allowance.insert("ep", 2);
        let limits = budget.limits(&"ep", 3);
        assert_eq!((limits.share, limits.allowance), (3, Some(2)));
        assert_eq!(limits.default_max_in_flight, 7);
        assert_eq!(budget.limits(&"other", 1).allowance, None);
    }
}
