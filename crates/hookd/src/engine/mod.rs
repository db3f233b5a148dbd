//! The engine: from a committed delivery task to a signed HTTP request and a recorded outcome.
//!
//! `dispatcher` claims due deliveries under a lease and runs them with bounded concurrency;
//! `heartbeat` says when its loop last went round (readiness); `leases` is the table of the leases this node holds and the heartbeat that renews them;
//! `vitals` samples the queue for the metrics gauges; `recorder` writes finished attempts' records in batches; `attempt` is one delivery step
//! (sign, send, classify, decide what comes next), after `transformation` ran the endpoint's
//! JavaScript in its sandbox, if it has one; `client` is the one outbound HTTP client,
//! owning timeouts and the SSRF guard (`policy::ssrf`, applied to every resolved address by
//! `client::resolver`); the rules it applies are in `policy`. Nothing here holds a database
//! transaction across an HTTP call: the store is touched only to claim, renew and record.

pub mod attempt;
pub mod client;
pub mod dispatcher;
pub mod heartbeat;
mod leases;
mod recorder;
pub mod scheduler;
pub mod transformation;
pub mod vitals;
