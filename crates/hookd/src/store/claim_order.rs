//! The order in which a claim visits due endpoints, shared by both backends because it is not
//! SQL: applications take turns, so one tenant's many endpoints do not starve the others.

use std::collections::VecDeque;

/// An endpoint with due work, as a claim sees it.
pub struct Candidate {
    pub endpoint_id: String,
    pub app_id: String,
}

/// Interleaves applications: the first endpoint of each application, then the second of each,
/// and so on, keeping the oldest-due order within an application.
pub fn fair_order(candidates: Vec<Candidate>) -> Vec<Candidate> {
    let mut by_app: Vec<(String, VecDeque<Candidate>)> = Vec::new();
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

#[cfg(test)]
mod tests {
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
            endpoint_id: endpoint.into(),
            app_id: app.into(),
        })
        .collect();
        let order: Vec<String> = fair_order(due)
            .into_iter()
            .map(|candidate| candidate.endpoint_id)
            .collect();
        assert_eq!(order, ["e1", "e4", "e5", "e2", "e3"]);
    }
}
