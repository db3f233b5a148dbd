//! The order in which a claim visits due endpoints and what each may take, shared by both
//! backends because it is not SQL: applications take turns, so one tenant's many endpoints do
//! not starve the others; every endpoint gets an equal share of what is left before any takes
//! more; and endpoints that are not quick never take the slots the budget reserves for quick
//! ones, so however many endpoints are slow, a healthy one finds a free slot.
//!
//! Generic over the endpoint id type (`Id`), so that policy needs nothing of `domain`.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

use super::claim_budget::ClaimBudget;
use super::claim_plan::ClaimLimits;

/// An endpoint with due work, as a claim sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate<Id> {
    pub endpoint_id: Id,
    pub app_id: String,
}

/// Interleaves applications: the first endpoint of each application, then the second of each,
/// and so on, keeping the oldest-due order within an application.
pub fn fair_order<Id>(candidates: Vec<Candidate<Id>>) -> Vec<Candidate<Id>> {
    let mut by_app: Vec<(String, VecDeque<Candidate<Id>>)> = Vec::new();
    for candidate in candidates {
        match by_app.iter_mut().find(|(app, _)| *app == candidate.app_id) {
            Some((_, queue)) => queue.push_back(candidate),
            None => by_app.push((candidate.app_id.clone(), VecDeque::from([candidate]))),
        }
    }
    let mut ordered = Vec::new();
    while by_app.iter().any(|(_, queue)| !queue.is_empty()) {
        for (_, queue) in &mut by_app {
            if let Some(candidate) = queue.pop_front() {
                ordered.push(candidate);
            }
        }
    }
    ordered
}

/// Whether a claim must look up its due quick endpoints by id: only when the reserve holds
/// something back and the scan of the oldest due endpoints was cut off at `scan_limit` rows,
/// since quick endpoints may then be due behind the slow ones it read.
pub fn scan_may_miss_quick_endpoints<Id>(
    budget: &ClaimBudget<Id>,
    rows_scanned: usize,
    scan_limit: usize,
) -> bool {
    budget.reserved_for_quick > 0
        && !budget.quick_endpoints.is_empty()
        && rows_scanned >= scan_limit
}

/// The scanned candidates followed by the due quick endpoints the scan did not reach, without
/// those the budget blocks.
pub fn with_due_quick_endpoints<Id: Eq + Hash + Clone>(
    budget: &ClaimBudget<Id>,
    mut candidates: Vec<Candidate<Id>>,
    due_quick: Vec<Candidate<Id>>,
) -> Vec<Candidate<Id>> {
    let mut seen: HashSet<Id> = candidates
        .iter()
        .map(|candidate| candidate.endpoint_id.clone())
        .collect();
    for candidate in due_quick {
        if !budget.blocks(&candidate.endpoint_id) && seen.insert(candidate.endpoint_id.clone()) {
            candidates.push(candidate);
        }
    }
    candidates
}

/// What one endpoint's turn in a claim may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// The claim has taken its limit: stop visiting.
    ClaimIsFull,
    /// Only the reserve is left and this endpoint is not quick: skip it without a visit.
    PassOver,
    /// Visit the endpoint and take at most this many of its due deliveries.
    TakeAtMost(usize),
}

/// Divides one claim's limit among the endpoints it visits, in visiting order.
pub struct ClaimShares<'a, Id> {
    budget: &'a ClaimBudget<Id>,
    endpoints_left: usize,
    not_quick_left: usize,
    taken: usize,
    taken_by_not_quick: usize,
}

impl<'a, Id: Eq + Hash> ClaimShares<'a, Id> {
    pub fn new(budget: &'a ClaimBudget<Id>, candidates: &[Candidate<Id>]) -> Self {
        let not_quick_left = candidates
            .iter()
            .filter(|candidate| !budget.is_quick(&candidate.endpoint_id))
            .count();
        ClaimShares {
            budget,
            endpoints_left: candidates.len(),
            not_quick_left,
            taken: 0,
            taken_by_not_quick: 0,
        }
    }

    /// The next candidate's turn; call `took` after visiting it.
    pub fn turn(&mut self, candidate: &Candidate<Id>) -> Turn {
        let limit_left = self.budget.limit.saturating_sub(self.taken);
        if limit_left == 0 {
            return Turn::ClaimIsFull;
        }
        let share = limit_left.div_ceil(self.endpoints_left.max(1));
        self.endpoints_left = self.endpoints_left.saturating_sub(1);
        if self.budget.is_quick(&candidate.endpoint_id) {
            return Turn::TakeAtMost(share);
        }
        let shared_left = self
            .budget
            .limit
            .saturating_sub(self.budget.reserved_for_quick)
            .saturating_sub(self.taken_by_not_quick)
            .min(limit_left);
        let not_quick_share = shared_left.div_ceil(self.not_quick_left.max(1));
        self.not_quick_left = self.not_quick_left.saturating_sub(1);
        if shared_left == 0 {
            Turn::PassOver
        } else {
            Turn::TakeAtMost(share.min(not_quick_share))
        }
    }

    /// Counts what the visit to `candidate` took.
    pub fn took(&mut self, candidate: &Candidate<Id>, taken: usize) {
        self.taken += taken;
        if !self.budget.is_quick(&candidate.endpoint_id) {
            self.taken_by_not_quick += taken;
        }
    }
}

/// One claim's walk over its due endpoints: in fair order, each endpoint's turn with what the
/// claim allows it, until the claim is full. What a backend loops over:
/// `while let Some((candidate, limits)) = turns.next_turn() { ...; turns.took(taken) }`.
pub struct ClaimTurns<'a, Id> {
    budget: &'a ClaimBudget<Id>,
    shares: ClaimShares<'a, Id>,
    candidates: std::vec::IntoIter<Candidate<Id>>,
    visiting: Option<Candidate<Id>>,
}

impl<'a, Id: Eq + Hash + Clone> ClaimTurns<'a, Id> {
    /// The turns of a claim over `due` endpoints (oldest due first).
    pub fn new(budget: &'a ClaimBudget<Id>, due: Vec<Candidate<Id>>) -> Self {
        let candidates = fair_order(due);
        ClaimTurns {
            budget,
            shares: ClaimShares::new(budget, &candidates),
            candidates: candidates.into_iter(),
            visiting: None,
        }
    }

    /// The next endpoint to visit and what this claim allows it; `None` when the claim is full
    /// or every endpoint had its turn. Endpoints that may only use the reserve are passed over.
    pub fn next_turn(&mut self) -> Option<(Candidate<Id>, ClaimLimits)> {
        for candidate in self.candidates.by_ref() {
            match self.shares.turn(&candidate) {
                Turn::ClaimIsFull => return None,
                Turn::PassOver => continue,
                Turn::TakeAtMost(share) => {
                    let limits = self.budget.limits(&candidate.endpoint_id, share);
                    self.visiting = Some(candidate.clone());
                    return Some((candidate, limits));
                }
            }
        }
        None
    }

    /// Counts what the visit to the endpoint of the last turn took.
    pub fn took(&mut self, taken: usize) {
        if let Some(candidate) = self.visiting.take() {
            self.shares.took(&candidate, taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn applications_take_turns() {
        let due = [
            ("e1", "a"),
            ("e2", "a"),
            ("e3", "a"),
            ("e4", "b"),
            ("e5", "c"),
        ]
        .into_iter()
        .map(|(endpoint, app)| Candidate {
            endpoint_id: endpoint.to_string(),
            app_id: app.into(),
        })
        .collect();
        let order: Vec<String> = fair_order(due)
            .into_iter()
            .map(|candidate| candidate.endpoint_id)
            .collect();
        assert_eq!(order, ["e1", "e4", "e5", "e2", "e3"]);
    }

    fn candidate(endpoint: &str) -> Candidate<String> {
        Candidate {
            endpoint_id: endpoint.into(),
            app_id: "app".into(),
        }
    }

    /// Plays one claim: each endpoint takes what its turn allows, up to what it has due.
    fn check(
        limit: usize,
        reserved_for_quick: usize,
        quick: &[&str],
        due: &[(&str, usize)],
        expected: &[(&str, usize)],
    ) {
        let budget = ClaimBudget {
            limit,
            reserved_for_quick,
            quick_endpoints: Arc::new(
                quick
                    .iter()
                    .map(|endpoint| endpoint.to_string())
                    .collect::<HashSet<_>>(),
            ),
            ..ClaimBudget::default()
        };
        let candidates: Vec<Candidate<String>> = due
            .iter()
            .map(|(endpoint, _)| candidate(endpoint))
            .collect();
        let mut shares = ClaimShares::new(&budget, &candidates);
        let mut taken = Vec::new();
        for (candidate, (_, has_due)) in candidates.iter().zip(due) {
            let took = match shares.turn(candidate) {
                Turn::ClaimIsFull => break,
                Turn::PassOver => continue,
                Turn::TakeAtMost(share) => share.min(*has_due),
            };
            shares.took(candidate, took);
            taken.push((candidate.endpoint_id.clone(), took));
        }
        let expected: Vec<(String, usize)> = expected
            .iter()
            .map(|(endpoint, took)| (endpoint.to_string(), *took))
            .collect();
        assert_eq!(
            taken, expected,
            "limit {limit}, reserve {reserved_for_quick}, quick {quick:?}, due {due:?}"
        );
    }

    #[test]
    fn shares_split_the_limit_and_keep_the_reserve_from_endpoints_that_are_not_quick() {
        // No reserve: equal shares of what is left, whoever is quick.
        check(
            6,
            0,
            &[],
            &[("s1", 9), ("s2", 9), ("s3", 9)],
            &[("s1", 2), ("s2", 2), ("s3", 2)],
        );
        // A share left unused by one endpoint goes to those after it.
        check(
            6,
            0,
            &[],
            &[("s1", 1), ("s2", 9), ("s3", 9)],
            &[("s1", 1), ("s2", 3), ("s3", 2)],
        );
        // Slow endpoints share what is not reserved; the quick one still gets its share.
        check(
            6,
            2,
            &["q"],
            &[("s1", 9), ("s2", 9), ("q", 9)],
            &[("s1", 2), ("s2", 2), ("q", 2)],
        );
        // Only the reserve left: slow endpoints are passed over, the quick one takes it all.
        check(2, 2, &["q"], &[("s1", 9), ("s2", 9), ("q", 9)], &[("q", 2)]);
        // Only the reserve left and nobody quick is due: nothing is claimed.
        check(2, 2, &["q"], &[("s1", 9), ("s2", 9)], &[]);
        // A quick endpoint may use every slot, the reserve included.
        check(8, 1, &["q"], &[("q", 9)], &[("q", 8)]);
        // An endpoint not timed yet is not quick: it shares what is not reserved.
        check(8, 1, &[], &[("new", 9)], &[("new", 7)]);
        // Slow endpoints together never take more than the unreserved part.
        check(
            5,
            2,
            &[],
            &[("s1", 9), ("s2", 9), ("s3", 9), ("s4", 9)],
            &[("s1", 1), ("s2", 1), ("s3", 1)],
        );
    }

    #[test]
    fn due_quick_endpoints_join_the_scan_once_and_only_when_the_scan_was_cut_off() {
        let mut budget = ClaimBudget {
            limit: 4,
            reserved_for_quick: 2,
            quick_endpoints: Arc::new(HashSet::from(["q1".to_string(), "q2".to_string()])),
            ..ClaimBudget::default()
        };
        assert!(scan_may_miss_quick_endpoints(&budget, 24, 24));
        assert!(
            !scan_may_miss_quick_endpoints(&budget, 23, 24),
            "the scan read every due endpoint"
        );
        budget.endpoint_allowance.insert("q2".to_string(), 0);
        let joined: Vec<String> = with_due_quick_endpoints(
            &budget,
            vec![candidate("s1"), candidate("q1")],
            vec![candidate("q1"), candidate("q2"), candidate("q3")],
        )
        .into_iter()
        .map(|candidate| candidate.endpoint_id)
        .collect();
        assert_eq!(joined, ["s1", "q1", "q3"], "q1 once, q2 at its allowance");
        budget.reserved_for_quick = 0;
        assert!(
            !scan_may_miss_quick_endpoints(&budget, 24, 24),
            "nothing reserved"
        );
    }

    #[test]
    fn turns_visit_in_fair_order_pass_over_the_reserve_and_stop_when_full() {
        let budget = ClaimBudget {
            limit: 3,
            reserved_for_quick: 1,
            quick_endpoints: Arc::new(HashSet::from(["q".to_string()])),
            endpoint_allowance: [("q".to_string(), 5)].into(),
            ..ClaimBudget::default()
        };
        let due = [
            ("s1", "a"),
            ("s2", "a"),
            ("s3", "a"),
            ("q", "b"),
            ("s4", "b"),
        ]
        .into_iter()
        .map(|(endpoint, app)| Candidate {
            endpoint_id: endpoint.to_string(),
            app_id: app.into(),
        })
        .collect();
        let mut turns = ClaimTurns::new(&budget, due);
        let mut visits = Vec::new();
        while let Some((candidate, limits)) = turns.next_turn() {
            visits.push((
                candidate.endpoint_id.clone(),
                limits.share,
                limits.allowance,
            ));
            turns.took(limits.share);
        }
        // Fair order is s1, q, s2, s4, s3. s1 takes its share of the unreserved two, q one of
        // the two left, s2 the last unreserved one; then the claim is full.
        let expected = [
            ("s1".to_string(), 1, None),
            ("q".to_string(), 1, Some(5)),
            ("s2".to_string(), 1, None),
        ];
        assert_eq!(visits, expected);
    }
}
