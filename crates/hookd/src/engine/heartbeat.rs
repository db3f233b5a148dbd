//! The engine's heartbeat: when the dispatcher's loop last went round, which readiness reads.
//!
//! The loop beats at the top of every round, and a round ends within a poll interval even
//! when nothing is due or every slot is busy; so a heartbeat older than a few poll intervals
//! means the loop is stuck (a claim that never returns, a dead task), not that it is idle.
//! Measured on the monotonic clock, never the injected `Clock`: it is about this process's
//! liveness, not about delivery times.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Shared between the dispatcher (which beats) and whoever asks (readiness, `/metrics`).
#[derive(Clone)]
pub struct Heartbeat {
    started: Instant,
    /// Milliseconds after `started` of the last beat, plus one; 0 = never.
    last: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat {
            started: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Heartbeat {
    /// The loop went round now.
    pub fn beat(&self) {
        let millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last.store(millis.saturating_add(1), Ordering::Relaxed);
    }

    /// How long ago the loop last went round; `None` before its first round.
    pub fn age(&self) -> Option<Duration> {
        match self.last.load(Ordering::Relaxed) {
            0 => None,
            beat => Some(
                self.started
                    .elapsed()
                    .saturating_sub(Duration::from_millis(beat - 1)),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_age_before_the_first_beat() {
        let heartbeat = Heartbeat::default();
        assert_eq!(heartbeat.age(), None);
        heartbeat.beat();
        let age = heartbeat.age().expect("beaten");
        assert!(age <= heartbeat.started.elapsed(), "{age:?}");
    }
}
