//! Pure policy: the rules of delivery, written once for every backend and caller.
//!
//! Nothing here does I/O or reads a clock or randomness: time and jitter are arguments. This
//! module imports nothing else of the crate (`no_module_imports_the_rest_of_the_crate` keeps it
//! so).
//!
//! - `retry` — the retry schedule and its delays.
//! - `outcome` — a response or transport error classified into an `AttemptOutcome` with a stable
//!   `FailureCode`; `Retry-After` parsing.
//! - `backpressure` — the circuit breaker and `Retry-After` rests, throttle token buckets.
//! - `ssrf` — which addresses and URLs an outbound request may reach.
//! - `claim_budget` — what one claim may take (`ClaimBudget`, generic over the endpoint id).
//! - `claim_order` — the order in which a claim visits due endpoints and what each may take.
//! - `claim_plan` — what a claim does with one endpoint: take (how many), postpone, park, skip.
//! - `health` — an endpoint's failure count, rest and disabling after an attempt.

pub mod backpressure;
pub mod claim_budget;
pub mod claim_order;
pub mod claim_plan;
pub mod health;
pub mod outcome;
pub mod retry;
pub mod ssrf;

#[cfg(test)]
mod tests {
    /// Every file of this module, by name and text.
    const FILES: [(&str, &str); 8] = [
        ("backpressure.rs", include_str!("backpressure.rs")),
        ("claim_budget.rs", include_str!("claim_budget.rs")),
        ("claim_order.rs", include_str!("claim_order.rs")),
        ("claim_plan.rs", include_str!("claim_plan.rs")),
        ("health.rs", include_str!("health.rs")),
        ("outcome.rs", include_str!("outcome.rs")),
        ("retry.rs", include_str!("retry.rs")),
        ("ssrf.rs", include_str!("ssrf.rs")),
    ];

    #[test]
    fn no_module_imports_the_rest_of_the_crate() {
        for (name, text) in FILES {
            let uses: Vec<&str> = text
                .lines()
                .filter(|line| line.contains("crate::"))
                .collect();
            assert!(uses.is_empty(), "policy/{name} uses the crate: {uses:?}");
        }
    }
}
