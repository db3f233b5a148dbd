//! Where "now" comes from. Production code reads the system clock through `SystemClock`; tests
//! pass a clock they control so that time-dependent behaviour (retries, grace periods, retention)
//! runs without sleeping.

use std::sync::Mutex;

use chrono::Utc;

use crate::domain::Timestamp;

/// A source of the current time, passed explicitly to everything that needs one.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
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
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock {
            now: Mutex::new(to_stored_precision(start)),
        }
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.now.lock().expect("clock lock poisoned");
        *now = to_stored_precision(*now + by);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.now.lock().expect("clock lock poisoned")
    }
}
