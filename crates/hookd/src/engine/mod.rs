//! The engine: from a committed delivery task to a signed HTTP request and a recorded outcome.
//!
//! `dispatcher` claims due deliveries under a lease and runs them with bounded concurrency;
//! `attempt` is one delivery step (sign, send, classify, decide what comes next); `client` is the
//! one outbound HTTP client, owning timeouts and the SSRF guard (`policy::ssrf`); the rules it
//! applies are in `policy`. Nothing here holds a database transaction across an HTTP call: the store is
//! touched only to claim and to record.

pub mod attempt;
pub mod client;
pub mod dispatcher;
pub mod scheduler;
