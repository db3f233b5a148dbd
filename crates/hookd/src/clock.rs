//! Where "now" comes from. Production code reads the system clock through `SystemClock`; tests
//! pass a clock they control so that time-dependent behaviour (retries, grace periods, retention)
//! runs without sleeping.

use std::sync::Mutex;

use chrono::Utc;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Notify;

use crate::domain::Timestamp;

/// A source of the current time, passed explicitly to everything that needs one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;

    /// Resolves once this clock reads `at` or later: the real clock sleeps, a manual clock
    /// waits for a test to move it there. Whoever waits for a time the clock decides (a
    /// delivery falling due) waits on this, never on a real sleep computed from `now`.
    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'_, ()> {
        let until = (at - self.now()).to_std().unwrap_or_default();
        tokio::time::sleep(until).boxed()
    }
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        to_stored_precision(Utc::now())
    }
}

/// Stores keep microseconds; a clock that ticks in microseconds makes a record read back equal
/// to the record that was written.
fn to_stored_precision(time: Timestamp) -> Timestamp {
    Timestamp::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// A clock that stands still until moved; for tests.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
    /// Wakes every `sleep_until` when the clock moves.
    moved: Notify,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(to_stored_precision(start)),
            moved: Notify::new(),
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        {
            let mut now = self.now.lock().expect("clock lock poisoned");
            *now = to_stored_precision(*now + by);
        }
        self.moved.notify_waiters();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock poisoned")
    }

    fn sleep_until(&self, at: Timestamp) -> BoxFuture<'_, ()> {
        async move {
            loop {
                // Registered before the time is read, so a move in between is not missed.
                let moved = self.moved.notified();
                tokio::pin!(moved);
                moved.as_mut().enable();
                if self.now() >= at {
                    return;
                }
                moved.await;
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_manual_clock_wakes_its_sleepers_when_moved_past_their_time() {
        let clock = ManualClock::new(Utc::now());
        let at = clock.now() + chrono::Duration::seconds(60);
        let mut sleeper = std::pin::pin!(clock.sleep_until(at));
        let before_the_move = tokio::time::timeout(Duration::from_millis(50), &mut sleeper);
        assert!(
            before_the_move.await.is_err(),
            "woke before the clock moved"
        );
        clock.advance(chrono::Duration::seconds(30));
        let short_of_it = tokio::time::timeout(Duration::from_millis(50), &mut sleeper);
        assert!(short_of_it.await.is_err(), "woke short of its time");
        clock.advance(chrono::Duration::seconds(30));
        let at_it = tokio::time::timeout(Duration::from_secs(5), &mut sleeper);
        assert!(at_it.await.is_ok(), "still asleep at its time");
        let past = clock.sleep_until(at - chrono::Duration::seconds(1));
        let past = tokio::time::timeout(Duration::from_secs(5), past);
        assert!(past.await.is_ok(), "a time already passed waits");
    }
}
