//! Pure policy: the rules of delivery, written once for every backend and caller.
//!
//! Nothing here does I/O or reads a clock or randomness: time and jitter are arguments. This
//! module imports nothing else of the crate (a test reads the `use crate::` lines to keep it so).
//!
//! - `retry` — the retry schedule and its delays.
//! - `outcome` — a response or transport error classified into an `AttemptOutcome` with a stable
//!   `FailureCode`; `Retry-After` parsing.
//! - `backpressure` — the circuit breaker and `Retry-After` rests, throttle token buckets.
//! - `ssrf` — which addresses and URLs an outbound request may reach.
//! - `claim_order` — the order in which a claim visits due endpoints and what each may take.

pub mod backpressure;
pub mod claim_order;
pub mod outcome;
pub mod retry;
pub mod ssrf;
