//! What one dispatcher learns about each endpoint between claims: attempts in flight, how
//! long its attempts take, and an adaptive concurrency limit (AIMD).
//!
//! Pure: no I/O and no clock (attempt durations are arguments). Everything that must hold
//! across nodes lives in the store (the hard per-endpoint limit, FIFO, rests after failures
//! and `Retry-After`, the single probe, throttles; see `store::ClaimBudget` and
//! `policy::backpressure`). This module only narrows each claim with this node's view of how
//! much load an endpoint takes right now:
//! - the limit starts at the endpoint's `maxInFlight` (or the server default);
//! - it halves on a response that asks for less load (429, 502, 503, 504, or any `Retry-After`);
//! - it grows by one with each success, back up to the maximum.
//!
//! And it keeps the node's pool from being taken by slow endpoints: an eighth of the pool (at
//! least one slot) is a reserve that only *quick* endpoints may use, those whose typical
//! attempt (a moving average of their last attempts on this node) takes under a second. Slow
//! endpoints, and endpoints this node has not timed yet, share the rest however many they are,
//! so a healthy endpoint always finds a free slot or one that frees within a quick attempt. A
//! quick endpoint alone may still use every slot.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::domain::EndpointId;
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::outcome::AttemptOutcome;
use crate::store::{ClaimBudget, ClaimedDelivery};

/// An endpoint whose typical attempt takes less than this may use the pool's reserve.
pub const QUICK_ATTEMPT: Duration = Duration::from_secs(1);

/// How many endpoints' attempt durations are remembered; past that, the ones that finished an
/// attempt longest ago are forgotten (and are not quick until timed again).
const REMEMBERED_ENDPOINTS: usize = 10_000;

#[derive(Debug, Clone)]
struct EndpointState {
    in_flight: u32,
    max: u32,
    limit: u32,
}

impl EndpointState {
    fn is_idle(&self) -> bool {
        self.in_flight == 0 && self.limit == self.max
    }
}

/// How long an endpoint's attempts take on this node.
#[derive(Debug, Clone, Copy)]
struct AttemptTiming {
    typical: Duration,
    /// When it last finished an attempt, counted in finished attempts on this node.
    last_finished: u64,
}

/// The per-node scheduling state. See the module docs for the policy.
#[derive(Debug)]
pub struct Scheduler {
    default_max_in_flight: u32,
    /// Slots slow and untimed endpoints may hold together: the pool minus its reserve.
    shared_slots: usize,
    circuit: CircuitPolicy,
    endpoints: HashMap<EndpointId, EndpointState>,
    timings: HashMap<EndpointId, AttemptTiming>,
    /// The endpoints of `timings` that are quick; shared with each budget without a copy.
    quick: Arc<HashSet<EndpointId>>,
    attempts_finished: u64,
}

impl Scheduler {
    /// A scheduler for a node with `pool_slots` attempts in flight at most.
    pub fn new(default_max_in_flight: u32, pool_slots: usize, circuit: CircuitPolicy) -> Self {
        // With a single slot there is nothing to hold back without starving slow endpoints.
        let reserve = if pool_slots >= 2 {
            (pool_slots / 8).max(1)
        } else {
            0
        };
        Scheduler {
            default_max_in_flight: default_max_in_flight.max(1),
            shared_slots: pool_slots - reserve,
            circuit,
            endpoints: HashMap::new(),
            timings: HashMap::new(),
            quick: Arc::default(),
            attempts_finished: 0,
        }
    }

    /// The budget for the next claim of at most `limit` deliveries.
    pub fn budget(&mut self, limit: usize) -> ClaimBudget {
        self.endpoints.retain(|_, state| !state.is_idle());
        let shared_in_flight: usize = self
            .endpoints
            .iter()
            .filter(|(id, _)| !self.quick.contains(*id))
            .map(|(_, state)| state.in_flight as usize)
            .sum();
        let shared_left = self.shared_slots.saturating_sub(shared_in_flight);
        ClaimBudget {
            limit,
            default_max_in_flight: self.default_max_in_flight,
            endpoint_allowance: self
                .endpoints
                .iter()
                .map(|(id, state)| (id.clone(), state.limit.saturating_sub(state.in_flight)))
                .collect(),
            circuit: self.circuit,
            reserved_for_quick: limit.saturating_sub(shared_left),
            quick_endpoints: Arc::clone(&self.quick),
        }
    }

    /// Counts a claimed delivery as in flight until `finished`.
    pub fn started(&mut self, claim: &ClaimedDelivery) {
        let max = claim
            .options
            .max_in_flight
            .unwrap_or(self.default_max_in_flight)
            .max(1);
        let state = self
            .endpoints
            .entry(claim.endpoint_id.clone())
            .or_insert(EndpointState {
                in_flight: 0,
                max,
                limit: max,
            });
        state.max = max;
        state.limit = state.limit.min(max);
        state.in_flight += 1;
    }

    /// Learns from how an attempt ended and how long it `took`; `None` for an attempt stopped
    /// by this node (its lease was lost), which says nothing about the endpoint's speed.
    pub fn finished(
        &mut self,
        endpoint_id: &EndpointId,
        outcome: &AttemptOutcome,
        took: Option<Duration>,
    ) {
        if let Some(took) = took {
            self.time_attempt(endpoint_id, took);
        }
        let Some(state) = self.endpoints.get_mut(endpoint_id) else {
            return;
        };
        state.in_flight = state.in_flight.saturating_sub(1);
        match outcome {
            AttemptOutcome::Delivered { .. } => state.limit = (state.limit + 1).min(state.max),
            AttemptOutcome::Failed {
                status,
                retry_after,
                ..
            } => {
                let asks_for_less = matches!(status, Some(429 | 502 | 503 | 504));
                if asks_for_less || retry_after.is_some() {
                    state.limit = (state.limit / 2).max(1);
                }
            }
        }
    }

    /// Moves the endpoint's typical attempt a quarter of the way to `took`: one attempt that
    /// stalls for 4 s or more makes a quick endpoint slow at once, while a slow one needs
    /// several quick answers in a row before it may use the reserve again.
    fn time_attempt(&mut self, endpoint_id: &EndpointId, took: Duration) {
        self.attempts_finished += 1;
        let timing = self
            .timings
            .entry(endpoint_id.clone())
            .and_modify(|timing| timing.typical = timing.typical - timing.typical / 4 + took / 4)
            .or_insert(AttemptTiming {
                typical: took,
                last_finished: 0,
            });
        timing.last_finished = self.attempts_finished;
        let is_quick = timing.typical < QUICK_ATTEMPT;
        if is_quick != self.quick.contains(endpoint_id) {
            let quick = Arc::make_mut(&mut self.quick);
            if is_quick {
                quick.insert(endpoint_id.clone());
            } else {
                quick.remove(endpoint_id);
            }
        }
        if self.timings.len() > REMEMBERED_ENDPOINTS {
            self.forget_least_recent_timings();
        }
    }

    /// Forgets the quarter of the timings whose endpoints finished an attempt longest ago, so
    /// that the work is done once per many attempts.
    fn forget_least_recent_timings(&mut self) {
        let mut by_age: Vec<(u64, EndpointId)> = self
            .timings
            .iter()
            .map(|(id, timing)| (timing.last_finished, id.clone()))
            .collect();
        by_age.sort_unstable();
        let quick = Arc::make_mut(&mut self.quick);
        for (_, endpoint_id) in by_age.into_iter().take(REMEMBERED_ENDPOINTS / 4) {
            self.timings.remove(&endpoint_id);
            quick.remove(&endpoint_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{
        AppId, DeliveryId, DeliveryOptions, EndpointUrl, EventTypeName, MessageId, SigningSecrets,
        TriggerType,
    };
    use crate::policy::outcome::FailureCode;

    fn claim(endpoint: &str) -> ClaimedDelivery {
        ClaimedDelivery {
            delivery_id: DeliveryId::from_trusted("dlv_1"),
            lease_token: 1,
            app_id: AppId::from_trusted("app_1"),
            msg_id: MessageId::from_trusted("msg_1"),
            endpoint_id: EndpointId::from_trusted(endpoint),
            event_type: EventTypeName::parse("a.b").unwrap(),
            attempts_made: 0,
            trigger_type: TriggerType::Scheduled,
            url: EndpointUrl::parse("http://example.com").unwrap(),
            headers: Default::default(),
            options: DeliveryOptions {
                max_in_flight: Some(8),
                ..DeliveryOptions::default()
            },
            secrets: SigningSecrets::default(),
            payload: Some("{}".into()),
            content_type: None,
            original_headers: Vec::new(),
            transformation: None,
        }
    }

    const QUICK: Duration = Duration::from_millis(20);
    const SLOW: Duration = Duration::from_secs(4);

    fn failed(status: u16, retry_after: Option<u64>) -> AttemptOutcome {
        AttemptOutcome::Failed {
            code: FailureCode::HttpStatus,
            status: Some(status),
            retry_after: retry_after.map(Duration::from_secs),
        }
    }

    fn allowance(scheduler: &mut Scheduler, endpoint: &str) -> Option<u32> {
        scheduler
            .budget(100)
            .endpoint_allowance
            .get(&EndpointId::from_trusted(endpoint))
            .copied()
    }

    fn scheduler() -> Scheduler {
        Scheduler::new(32, 64, CircuitPolicy::default())
    }

    #[test]
    fn in_flight_attempts_use_up_the_limit() {
        let mut scheduler = scheduler();
        for _ in 0..3 {
            scheduler.started(&claim("ep_a"));
        }
        assert_eq!(allowance(&mut scheduler, "ep_a"), Some(5));
        let endpoint = EndpointId::from_trusted("ep_a");
        for _ in 0..3 {
            scheduler.finished(
                &endpoint,
                &AttemptOutcome::Delivered { status: 200 },
                Some(QUICK),
            );
        }
        // Idle at full limit: nothing to say, so nothing is kept.
        assert_eq!(allowance(&mut scheduler, "ep_a"), None);
    }

    #[test]
    fn backpressure_halves_the_limit_and_success_recovers_it() {
        let mut scheduler = scheduler();
        let endpoint = EndpointId::from_trusted("ep_a");
        for (status, retry_after) in [(429, None), (502, None), (500, Some(3))] {
            scheduler.started(&claim("ep_a"));
            scheduler.finished(&endpoint, &failed(status, retry_after), Some(QUICK));
        }
        assert_eq!(
            allowance(&mut scheduler, "ep_a"),
            Some(1),
            "8 -> 4 -> 2 -> 1"
        );
        scheduler.started(&claim("ep_a"));
        scheduler.finished(&endpoint, &failed(500, None), Some(QUICK));
        assert_eq!(
            allowance(&mut scheduler, "ep_a"),
            Some(1),
            "a plain 500 does not halve"
        );
        for _ in 0..4 {
            scheduler.started(&claim("ep_a"));
            scheduler.finished(
                &endpoint,
                &AttemptOutcome::Delivered { status: 200 },
                Some(QUICK),
            );
        }
        assert_eq!(allowance(&mut scheduler, "ep_a"), Some(5));
    }

    #[test]
    fn the_budget_carries_the_server_defaults() {
        let mut scheduler = Scheduler::new(7, 64, CircuitPolicy::default());
        let budget = scheduler.budget(64);
        assert_eq!(budget.limit, 64);
        assert_eq!(budget.default_max_in_flight, 7);
        assert_eq!(budget.circuit, CircuitPolicy::default());
    }

    fn delivered() -> AttemptOutcome {
        AttemptOutcome::Delivered { status: 200 }
    }

    /// An endpoint, how long its attempts take, and how many it has in flight.
    type TimedEndpoint = (&'static str, Duration, usize);

    /// Times one attempt of each endpoint, then starts `in_flight` attempts for each.
    fn timed(scheduler: &mut Scheduler, endpoints: &[TimedEndpoint]) {
        for (endpoint, took, in_flight) in endpoints {
            scheduler.started(&claim(endpoint));
            scheduler.finished(
                &EndpointId::from_trusted(*endpoint),
                &delivered(),
                Some(*took),
            );
            for _ in 0..*in_flight {
                scheduler.started(&claim(endpoint));
            }
        }
    }

    #[test]
    fn slow_endpoints_never_take_the_reserve() {
        // A pool of 64 keeps 8 slots for quick endpoints; the slow ones share the other 56.
        let cases: &[(&[TimedEndpoint], usize, usize)] = &[
            // (endpoints with their typical attempt and attempts in flight, free slots,
            //  slots of the claim reserved for quick endpoints)
            (&[], 64, 8),
            (&[("ep_q", QUICK, 8)], 56, 0),
            (&[("ep_s1", SLOW, 8), ("ep_s2", SLOW, 8)], 48, 8),
            // Seven slow endpoints fill their 56 slots: what is free is all reserve.
            (
                &[
                    ("ep_s1", SLOW, 8),
                    ("ep_s2", SLOW, 8),
                    ("ep_s3", SLOW, 8),
                    ("ep_s4", SLOW, 8),
                    ("ep_s5", SLOW, 8),
                    ("ep_s6", SLOW, 8),
                    ("ep_s7", SLOW, 8),
                ],
                8,
                8,
            ),
            // Quick endpoints' slots do not count against the slow ones' part.
            (&[("ep_s1", SLOW, 8), ("ep_q", QUICK, 8)], 48, 0),
        ];
        for (endpoints, free, reserved) in cases {
            let mut scheduler = scheduler();
            timed(&mut scheduler, endpoints);
            let budget = scheduler.budget(*free);
            assert_eq!(budget.reserved_for_quick, *reserved, "{endpoints:?}");
            for (endpoint, took, _) in *endpoints {
                assert_eq!(
                    budget
                        .quick_endpoints
                        .contains(&EndpointId::from_trusted(*endpoint)),
                    *took < QUICK_ATTEMPT,
                    "{endpoint}"
                );
            }
        }
    }

    #[test]
    fn an_attempt_stopped_by_the_node_teaches_no_timing() {
        let mut scheduler = scheduler();
        let endpoint = EndpointId::from_trusted("ep_a");
        timed(&mut scheduler, &[("ep_a", QUICK, 1)]);
        scheduler.finished(&endpoint, &failed(500, None), None);
        assert!(
            scheduler.budget(64).quick_endpoints.contains(&endpoint),
            "still quick"
        );
    }

    #[test]
    fn an_endpoint_turns_slow_at_once_and_quick_again_after_several_quick_attempts() {
        let mut scheduler = scheduler();
        let endpoint = EndpointId::from_trusted("ep_a");
        let is_quick =
            |scheduler: &mut Scheduler| scheduler.budget(64).quick_endpoints.contains(&endpoint);
        timed(&mut scheduler, &[("ep_a", QUICK, 0)]);
        assert!(is_quick(&mut scheduler));
        // One attempt that ran into the default 15 s timeout.
        scheduler.finished(&endpoint, &failed(504, None), Some(Duration::from_secs(15)));
        assert!(!is_quick(&mut scheduler), "one stalled attempt");
        let mut quick_answers = 0;
        while !is_quick(&mut scheduler) {
            scheduler.finished(&endpoint, &delivered(), Some(QUICK));
            quick_answers += 1;
        }
        assert_eq!(quick_answers, 5, "3.8 s x (3/4)^n < 1 s from n = 5");
    }

    #[test]
    fn a_tiny_pool_has_no_reserve_and_the_oldest_timings_are_forgotten() {
        let mut scheduler = Scheduler::new(32, 1, CircuitPolicy::default());
        timed(&mut scheduler, &[("ep_s", SLOW, 0)]);
        assert_eq!(scheduler.budget(1).reserved_for_quick, 0);
        for n in 0..=REMEMBERED_ENDPOINTS {
            let endpoint = EndpointId::from_trusted(format!("ep_{n}"));
            scheduler.finished(&endpoint, &delivered(), Some(QUICK));
        }
        let budget = scheduler.budget(1);
        assert!(budget.quick_endpoints.len() <= REMEMBERED_ENDPOINTS);
        assert!(
            !budget
                .quick_endpoints
                .contains(&EndpointId::from_trusted("ep_0"))
        );
        let newest = format!("ep_{REMEMBERED_ENDPOINTS}");
        assert!(
            budget
                .quick_endpoints
                .contains(&EndpointId::from_trusted(newest))
        );
    }
}
