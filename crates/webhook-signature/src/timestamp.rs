//! Reading the signed Unix timestamps of Standard Webhooks, Slack and Stripe, and checking them
//! against a tolerance window around a caller-supplied "now". It never reads the clock itself,
//! which keeps verification deterministic and testable with a pinned time.

use crate::VerifyError;

/// Parses a timestamp header: seconds since the Unix epoch, written as ASCII digits only.
///
/// Signs, spaces and leading `+` are rejected rather than normalised, because some schemes sign
/// the header text itself and a lenient parse would accept text the sender never signed.
pub(crate) fn parse_unix_timestamp(raw: &str) -> Result<i64, VerifyError> {
    if raw.is_empty() {
        return Err(VerifyError::MissingTimestamp);
    }
    if !raw.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(VerifyError::InvalidTimestamp);
    }
    // Only overflow can fail here, since every byte is a digit.
    raw.parse().map_err(|_| VerifyError::InvalidTimestamp)
}

/// Accepts `timestamp` if it lies within `tolerance_secs` of `now_unix` in either direction.
///
/// The arithmetic is widened to `i128` so that extreme values from a hostile header cannot
/// overflow. A negative tolerance rejects every timestamp.
pub(crate) fn check_within_tolerance(
    timestamp: i64,
    now_unix: i64,
    tolerance_secs: i64,
) -> Result<(), VerifyError> {
    let age = i128::from(now_unix) - i128::from(timestamp);
    let tolerance = i128::from(tolerance_secs);
    if age > tolerance {
        Err(VerifyError::TimestampTooOld)
    } else if -age > tolerance {
        Err(VerifyError::TimestampTooNew)
    } else {
        Ok(())
    }
}
