//! Accepting connections: the connection cap below the open-file limit, and the back-off after a
//! failed `accept` (out of descriptors, or a client that reset before it was accepted).
//!
//! Nothing here reads from a connection; what a connection may do once accepted is `mod.rs`'s
//! (timeouts, shutdown) and `tls.rs`'s (the handshake's certificate).

use std::io;
use std::time::Duration;

use crate::telemetry::ErrorChain;

/// Descriptors kept free for everything that is not an API connection: the database, the
/// listener, log and data files. Outbound delivery connections are reserved separately.
pub const RESERVED_DESCRIPTORS: usize = 64;

/// The connection cap for an open-file limit: what the operator asked for (or, unasked, all
/// that the limit allows), but always leaving `reserved` descriptors free, and never fewer than
/// a handful of connections, so that a tiny limit still serves something.
pub fn connection_cap(descriptor_limit: u64, requested: Option<usize>, reserved: usize) -> usize {
    const MINIMUM_CONNECTIONS: usize = 16;
    let allowed = usize::try_from(descriptor_limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserved)
        .max(MINIMUM_CONNECTIONS);
    requested.map_or(allowed, |requested| requested.clamp(1, allowed))
}

/// Whether an accept failed because this process or the system ran out of descriptors.
pub(super) fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The pause after a failed accept: none for errors about one client (it reset before being
/// accepted), and growing pauses while the process is out of resources, so that the loop
/// neither spins nor logs the same error thousands of times a second.
#[derive(Debug, Default)]
pub(super) struct AcceptBackoff {
    consecutive_failures: u32,
}

impl AcceptBackoff {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const LONGEST_PAUSE: Duration = Duration::from_secs(1);

    pub(super) fn succeeded(&mut self) {
        if self.consecutive_failures > 0 {
            tracing::info!(
                failed_accepts = self.consecutive_failures,
                "accepting connections again"
            );
        }
        self.consecutive_failures = 0;
    }

    pub(super) fn failed(&mut self, error: &io::Error) -> Duration {
        if is_per_connection_error(error) {
            tracing::debug!(error = %ErrorChain(error), "a client went away before its connection was accepted");
            return Duration::ZERO;
        }
        if self.consecutive_failures == 0 {
            tracing::warn!(error = %ErrorChain(error), "accepting connections failed; backing off until it works");
        }
        let pause = pause_after_failures(self.consecutive_failures);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        pause
    }
}

/// `FIRST_PAUSE`, doubled for each further consecutive failure, at most `LONGEST_PAUSE`.
fn pause_after_failures(previous_failures: u32) -> Duration {
    AcceptBackoff::FIRST_PAUSE
        .saturating_mul(1u32 << previous_failures.min(16))
        .min(AcceptBackoff::LONGEST_PAUSE)
}

fn is_per_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_cap(descriptor_limit: u64, requested: Option<usize>, expected: usize) {
        assert_eq!(
            connection_cap(descriptor_limit, requested, 320),
            expected,
            "limit {descriptor_limit}, requested {requested:?}"
        );
    }

    #[test]
    fn connection_caps_stay_below_the_descriptor_limit() {
        check_cap(1024, None, 704);
        check_cap(1024, Some(100), 100);
        check_cap(1024, Some(5000), 704);
        check_cap(1024, Some(0), 1);
        check_cap(300, None, 16);
        check_cap(u64::MAX, None, usize::MAX - 320);
    }

    fn check_pause(previous_failures: u32, expected: Duration) {
        assert_eq!(
            pause_after_failures(previous_failures),
            expected,
            "{previous_failures}"
        );
    }

    #[test]
    fn accept_failures_back_off_up_to_a_second() {
        check_pause(0, Duration::from_millis(10));
        check_pause(1, Duration::from_millis(20));
        check_pause(3, Duration::from_millis(80));
        check_pause(7, Duration::from_secs(1));
        check_pause(u32::MAX, Duration::from_secs(1));
    }

    #[test]
    fn only_descriptor_exhaustion_counts_as_out_of_descriptors() {
        for (errno, expected) in [
            (libc::EMFILE, true),
            (libc::ENFILE, true),
            (libc::ECONNABORTED, false),
        ] {
            let error = io::Error::from_raw_os_error(errno);
            assert_eq!(is_out_of_descriptors(&error), expected, "{error}");
        }
    }
}
