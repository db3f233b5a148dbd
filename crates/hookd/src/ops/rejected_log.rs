//! How many rejected inbound requests each source keeps in its request log.
//!
//! A request to a source's ingest URL is judged before anything else is known of its sender,
//! and a rejected one is recorded with its headers and body, so anyone who has the URL could
//! fill the database with rejections as fast as they can send. Each source therefore records
//! at most `per_minute` rejections a minute (a token bucket that holds a minute's worth, one
//! per source, in memory on each node); past it a rejection is still answered 401 and counted
//! (`hookd_inbound_rejections_unlogged_total`), only not stored. Accepted and duplicate
//! requests are never limited here: they are the provider's, and each is stored once.

use std::num::NonZeroU32;

use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// The default of `--inbound-rejected-log-per-minute`.
pub const DEFAULT_PER_MINUTE: u32 = 60;

/// Each source's budget of rejections to record.
pub struct RejectedLogBudget {
    /// `None` records no rejection at all (`per_minute` = 0).
    limiter:
        Option<RateLimiter<String, DefaultKeyedStateStore<String>, governor::clock::DefaultClock>>,
}

impl RejectedLogBudget {
    pub fn per_minute(per_minute: u32) -> Self {
        RejectedLogBudget {
            limiter: NonZeroU32::new(per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n).allow_burst(n))),
        }
    }

    /// Whether a rejection of `source_id` may be recorded now; spends one if so.
    pub fn admit(&self, source_id: &str) -> bool {
        self.limiter
            .as_ref()
            .is_some_and(|limiter| limiter.check_key(&source_id.to_owned()).is_ok())
    }
}

impl Default for RejectedLogBudget {
    fn default() -> Self {
        RejectedLogBudget::per_minute(DEFAULT_PER_MINUTE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_source_records_its_budget_and_no_more() {
        let budget = RejectedLogBudget::per_minute(3);
        let admitted = |source: &str| (0..10).filter(|_| budget.admit(source)).count();
        assert_eq!(admitted("src_a"), 3);
        assert_eq!(
            admitted("src_b"),
            3,
            "another source has a budget of its own"
        );
        assert_eq!(admitted("src_a"), 0);
        assert!(!RejectedLogBudget::per_minute(0).admit("src_a"));
    }
}
