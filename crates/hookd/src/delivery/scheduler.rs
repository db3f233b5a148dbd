//! What one dispatcher learns about each endpoint between claims: attempts in flight, and an
//! adaptive concurrency limit (AIMD).
//!
//! Pure: no I/O and no clock. Everything that must hold across nodes lives in the store (the
//! hard per-endpoint limit, FIFO, rests after failures and `Retry-After`, the single probe,
//! throttles; see `store::ClaimBudget` and `delivery::backpressure`). This module only narrows
//! each claim with this node's view of how much load an endpoint takes right now:
//! - the limit starts at the endpoint's `maxInFlight` (or the server default);
//! - it halves on a response that asks for less load (429, 502, 503, 504, or any `Retry-After`);
//! - it grows by one with each success, back up to the maximum.

use std::collections::HashMap;

use super::backpressure::CircuitPolicy;
use super::outcome::AttemptOutcome;
use crate::domain::EndpointId;
use crate::store::{ClaimBudget, ClaimedDelivery};

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

/// The per-node scheduling state. See the module docs for the policy.
#[derive(Debug)]
pub struct Scheduler {
    default_max_in_flight: u32,
    circuit: CircuitPolicy,
    endpoints: HashMap<EndpointId, EndpointState>,
}

impl Scheduler {
    pub fn new(default_max_in_flight: u32, circuit: CircuitPolicy) -> Self {
        Scheduler {
            default_max_in_flight: default_max_in_flight.max(1),
            circuit,
            endpoints: HashMap::new(),
        }
    }

    /// The budget for the next claim of at most `limit` deliveries.
    pub fn budget(&mut self, limit: usize) -> ClaimBudget {
        self.endpoints.retain(|_, state| !state.is_idle());
        ClaimBudget {
            limit,
            default_max_in_flight: self.default_max_in_flight,
            endpoint_allowance: self
                .endpoints
                .iter()
                .map(|(id, state)| (id.clone(), state.limit.saturating_sub(state.in_flight)))
                .collect(),
            circuit: self.circuit,
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

    /// Learns from how an attempt ended.
    pub fn finished(&mut self, endpoint_id: &EndpointId, outcome: &AttemptOutcome) {
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
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::delivery::outcome::FailureCode;
    use crate::domain::{
        AppId, DeliveryId, DeliveryOptions, EventTypeName, MessageId, TriggerType,
    };

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
            url: "http://example.com".into(),
            headers: Default::default(),
            options: DeliveryOptions {
                max_in_flight: Some(8),
                ..DeliveryOptions::default()
            },
            secrets: Vec::new(),
            payload: Some("{}".into()),
        }
    }

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
        Scheduler::new(32, CircuitPolicy::default())
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
            scheduler.finished(&endpoint, &AttemptOutcome::Delivered { status: 200 });
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
            scheduler.finished(&endpoint, &failed(status, retry_after));
        }
        assert_eq!(
            allowance(&mut scheduler, "ep_a"),
            Some(1),
            "8 -> 4 -> 2 -> 1"
        );
        scheduler.started(&claim("ep_a"));
        scheduler.finished(&endpoint, &failed(500, None));
        assert_eq!(
            allowance(&mut scheduler, "ep_a"),
            Some(1),
            "a plain 500 does not halve"
        );
        for _ in 0..4 {
            scheduler.started(&claim("ep_a"));
            scheduler.finished(&endpoint, &AttemptOutcome::Delivered { status: 200 });
        }
        assert_eq!(allowance(&mut scheduler, "ep_a"), Some(5));
    }

    #[test]
    fn the_budget_carries_the_server_defaults() {
        let mut scheduler = Scheduler::new(7, CircuitPolicy::default());
        let budget = scheduler.budget(64);
        assert_eq!(budget.limit, 64);
        assert_eq!(budget.default_max_in_flight, 7);
        assert_eq!(budget.circuit, CircuitPolicy::default());
    }
}
