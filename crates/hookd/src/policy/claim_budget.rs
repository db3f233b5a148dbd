//! What one claim may take, as the dispatcher hands it to the store: the claim's limit, this
//! node's allowances per endpoint, and the reserve kept for quick endpoints. Generic over the
//! endpoint id type so that policy needs nothing of `domain`; the store names it
//! `store::ClaimBudget` (`ClaimBudget<EndpointId>`).

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Arc;

use super::backpressure::CircuitPolicy;

/// What one claim may take. The store enforces, across every node: each endpoint's concurrency
/// limit (its `maxInFlight` or `default_max_in_flight`, counted over live leases), FIFO for
/// ordered endpoints, rests (circuit breaker, `Retry-After`) with a single probe after them, and
/// the endpoint's and application's throttles (token buckets kept in the database); the rules
/// are `claim_plan::plan`. The dispatcher narrows that further with its adaptive limits and its
/// pool's reserve for quick endpoints (see `claim_order::ClaimShares`).
#[derive(Debug, Clone)]
pub struct ClaimBudget<Id> {
    /// Most deliveries in this claim.
    pub limit: usize,
    pub default_max_in_flight: u32,
    /// Upper bounds for particular endpoints from this node's adaptive limits; 0 skips the
    /// endpoint.
    pub endpoint_allowance: HashMap<Id, u32>,
    /// When a failing endpoint is down to one probe in flight.
    pub circuit: CircuitPolicy,
    /// How many of `limit` only `quick_endpoints` may take: every other endpoint (slow, or not
    /// timed by this node yet) shares the rest. 0 holds nothing back.
    pub reserved_for_quick: usize,
    /// Endpoints whose recent attempts on this node finished quickly. When more endpoints are
    /// due than a claim scans, the store also looks these up by id, so that the reserve reaches
    /// them however many slow endpoints are due before them.
    pub quick_endpoints: Arc<HashSet<Id>>,
}

impl<Id> Default for ClaimBudget<Id> {
    fn default() -> Self {
        ClaimBudget {
            limit: 0,
            default_max_in_flight: 0,
            endpoint_allowance: HashMap::new(),
            circuit: CircuitPolicy::default(),
            reserved_for_quick: 0,
            quick_endpoints: Arc::new(HashSet::new()),
        }
    }
}

impl<Id: Eq + Hash> ClaimBudget<Id> {
    /// How many due endpoints a claim scans, oldest due first: twice its limit (some turn out
    /// resting, throttled or full), the endpoints this node skips, and a margin.
    pub fn scan_limit(&self) -> usize {
        let blocked = self
            .endpoint_allowance
            .values()
            .filter(|allowance| **allowance == 0)
            .count();
        self.limit.saturating_mul(2) + blocked + 16
    }

    /// How many due quick endpoints a claim looks up by id when its scan was cut off.
    pub fn quick_scan_limit(&self) -> usize {
        self.limit.saturating_mul(2) + 16
    }

    /// Whether this node's adaptive limit leaves the endpoint nothing: it is not visited.
    pub fn blocks(&self, endpoint_id: &Id) -> bool {
        self.endpoint_allowance.get(endpoint_id) == Some(&0)
    }

    /// This node's upper bound for the endpoint, if it has one.
    pub fn allowance(&self, endpoint_id: &Id) -> Option<u32> {
        self.endpoint_allowance.get(endpoint_id).copied()
    }

    pub fn is_quick(&self, endpoint_id: &Id) -> bool {
        self.quick_endpoints.contains(endpoint_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scan_reads_twice_the_limit_plus_the_blocked_endpoints_and_a_margin() {
        let mut budget = ClaimBudget {
            limit: 10,
            ..ClaimBudget::default()
        };
        assert_eq!(budget.scan_limit(), 36);
        assert_eq!(budget.quick_scan_limit(), 36);
        budget.endpoint_allowance.insert("full", 0);
        budget.endpoint_allowance.insert("room", 3);
        assert_eq!(budget.scan_limit(), 37, "one endpoint is blocked");
        assert_eq!(budget.quick_scan_limit(), 36);
        assert!(budget.blocks(&"full"));
        assert!(!budget.blocks(&"room"));
        assert!(!budget.blocks(&"unknown"));
        assert_eq!(budget.allowance(&"room"), Some(3));
        assert_eq!(budget.allowance(&"unknown"), None);
    }
}
