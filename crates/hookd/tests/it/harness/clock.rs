//! Injected time for the integration tests: `TestClock` is the `ManualClock` a test hands to
//! hookd, with a mapping onto `Instant`s so receipts stamped with it compare like real ones.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hookd::app::Dependencies;
use hookd::clock::{Clock, ManualClock};

use super::Receiver;

/// Injected time for a test about a rest, a retry or a window: hookd runs on a `ManualClock`
/// that only the test moves, so the test passes time instead of sleeping through it. The clock
/// is also mapped onto `Instant`s (its start is the moment it was made), so that receipts
/// stamped with it (`Receiver::start_on`) compare like real ones.
pub struct TestClock {
    manual: Arc<ManualClock>,
    origin: Instant,
    origin_time: chrono::DateTime<chrono::Utc>,
}

impl TestClock {
    /// How long hookd is given to act on a move of the clock when a test expects nothing to
    /// happen: its dispatcher waits for the next due time on the clock, so a move wakes it at
    /// once, and it looks again at least every 500 ms (its poll interval) whatever the clock
    /// does; anything now due is claimed and sent well within this on a busy machine.
    pub const SETTLE: Duration = Duration::from_millis(800);

    pub fn new() -> Arc<TestClock> {
        let manual = Arc::new(ManualClock::new(chrono::Utc::now()));
        Arc::new(TestClock {
            origin_time: manual.now(),
            manual,
            origin: Instant::now(),
        })
    }

    /// Production dependencies with this clock.
    pub fn dependencies(&self) -> Dependencies {
        Dependencies {
            clock: Arc::clone(&self.manual) as Arc<dyn Clock>,
            ..Dependencies::production()
        }
    }

    /// The clock's time as an `Instant` on the same scale as `origin`.
    pub fn instant(&self) -> Instant {
        let passed = (self.manual.now() - self.origin_time)
            .to_std()
            .expect("a manual clock only moves forward");
        self.origin + passed
    }

    /// Moves the clock forward to `at` (never back). What falls due is claimed as soon as
    /// hookd's dispatcher wakes, which the move does; a test that expects something follows
    /// this with a `wait_for`.
    pub fn advance_to(&self, at: Instant) {
        let by = at.saturating_duration_since(self.instant());
        self.manual
            .advance(chrono::Duration::from_std(by).expect("a short move"));
    }

    /// Moves the clock forward to `at`, then gives hookd `SETTLE` of real time to act on what
    /// fell due: for a test that expects nothing to happen.
    pub async fn pass_until(&self, at: Instant) {
        self.advance_to(at);
        tokio::time::sleep(Self::SETTLE).await;
    }

    /// Moves the clock forward to `until`, gives hookd `SETTLE` to act, and asserts that
    /// `receiver` got nothing more meanwhile; `why` says what a request would have broken.
    pub async fn pass_quietly(&self, receiver: &Receiver, until: Instant, why: &str) {
        let before = receiver.received().len();
        self.pass_until(until).await;
        assert_eq!(receiver.received().len(), before, "{why}");
    }
}
