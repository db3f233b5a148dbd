//! Readiness: whether this node can do its work now, as a load balancer or an orchestrator
//! asks before sending it traffic (liveness is `/api/v1/health`, which asks nothing).
//!
//! Two checks: the database answers a trivial query within `DATABASE_TIMEOUT`, and the
//! engine's delivery loop went round within `engine_stall_after` (its `Heartbeat`). Both are
//! run on every call; neither writes. Admin or not, anyone may ask: the answer names no record.

use std::time::Duration;

use super::Ops;
use crate::engine::heartbeat::Heartbeat;

/// How long the database may take to answer the readiness query.
pub const DATABASE_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness reads besides the store.
#[derive(Clone)]
pub struct ReadinessProbe {
    /// Beaten by the dispatcher every round.
    pub engine_heartbeat: Heartbeat,
    /// A heartbeat older than this makes the node not ready (`--engine-stall-timeout`).
    pub engine_stall_after: Duration,
}

/// The outcome of each check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readiness {
    pub database: DatabaseCheck,
    pub engine: EngineCheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseCheck {
    Ok,
    /// The query failed (the error is logged).
    Failed,
    /// No answer within `DATABASE_TIMEOUT`.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineCheck {
    /// The loop went round this long ago, within the limit.
    Ok { heartbeat_age: Duration },
    /// The loop has not started its first round.
    NotStarted,
    /// The loop last went round this long ago, past the limit.
    Stalled { heartbeat_age: Duration },
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database == DatabaseCheck::Ok && matches!(self.engine, EngineCheck::Ok { .. })
    }
}

/// Runs both checks.
pub async fn check(ops: &Ops) -> Readiness {
    let database = match tokio::time::timeout(DATABASE_TIMEOUT, ops.store.ping()).await {
        Ok(Ok(())) => DatabaseCheck::Ok,
        Ok(Err(error)) => {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&error), "readiness: the database query failed");
            DatabaseCheck::Failed
        }
        Err(_) => DatabaseCheck::TimedOut,
    };
    let probe = &ops.readiness;
    let engine = match probe.engine_heartbeat.age() {
        None => EngineCheck::NotStarted,
        Some(age) if age > probe.engine_stall_after => EngineCheck::Stalled { heartbeat_age: age },
        Some(age) => EngineCheck::Ok { heartbeat_age: age },
    };
    Readiness { database, engine }
}
