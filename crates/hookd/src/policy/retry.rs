//! The retry policy as a value: a schedule of delays between delivery attempts, how it is written
//! in configuration ("5s,5m,30m,2h,5h,10h,10h"), and the delay before the next attempt. It is pure:
//! it must not read the clock, draw random numbers or sleep. The caller passes the jitter sample and
//! turns the returned delay into a due time with its own clock.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Delays between consecutive delivery attempts: entry `n` is the wait after the `n + 1`th failed
/// attempt. An empty schedule means a single attempt and no retries.
///
/// Delays are kept to whole milliseconds, the finest unit the written form has, so that
/// `Display` and `FromStr` round-trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(Vec<Duration>);

/// Why a written retry schedule could not be parsed. Entries are numbered from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryScheduleError {
    #[error("retry schedule entry {position} is empty")]
    EmptyEntry { position: usize },
    #[error(
        "retry schedule entry {position} ({entry:?}) must start with a whole number, as in 30s"
    )]
    MissingNumber { position: usize, entry: String },
    #[error("retry schedule entry {position} ({entry:?}) has no unit; use ms, s, m, h or d")]
    MissingUnit { position: usize, entry: String },
    #[error(
        "retry schedule entry {position} ({entry:?}) has unknown unit {unit:?}; use ms, s, m, h or d"
    )]
    UnknownUnit {
        position: usize,
        entry: String,
        unit: String,
    },
    #[error("retry schedule entry {position} ({entry:?}) is too large")]
    TooLarge { position: usize, entry: String },
}

impl RetrySchedule {
    /// Builds a schedule from delays, truncating each to whole milliseconds.
    pub fn new(delays: impl IntoIterator<Item = Duration>) -> Self {
        RetrySchedule(delays.into_iter().map(truncate_to_millis).collect())
    }

    /// The delays, in order.
    pub fn delays(&self) -> &[Duration] {
        &self.0
    }

    /// The total number of attempts: the first one plus one per scheduled retry.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.0.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait before the next attempt, given how many attempts have been made (and failed) so
    /// far, or `None` when the schedule is exhausted and delivery should give up.
    ///
    /// `jitter` is a uniform sample from `[0, 1)` chosen by the caller; it scales the delay to
    /// between 80% and 120% so that retries of many messages do not arrive in lockstep. Samples
    /// outside that range are clamped, and a NaN sample means no jitter. With no failed attempt
    /// yet, the first attempt is due at once.
    pub fn delay_after(&self, failed_attempts: u32, jitter: f64) -> Option<Duration> {
        let Some(index) = failed_attempts.checked_sub(1) else {
            return Some(Duration::ZERO);
        };
        let delay = self.0.get(usize::try_from(index).ok()?)?;
        let jitter = if jitter.is_nan() {
            0.5
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let factor = 0.8 + 0.4 * jitter;
        // Float-to-integer `as` saturates, so a huge delay cannot overflow or go negative.
        let jittered_millis = (delay.as_millis() as f64 * factor).round() as u64;
        Some(Duration::from_millis(jittered_millis))
    }
}

impl Default for RetrySchedule {
    /// Five seconds, five minutes, thirty minutes, two hours, five hours and two times ten hours:
    /// the schedule Svix documents, so receivers see the timing they expect.
    fn default() -> Self {
        const MINUTE: u64 = 60;
        const HOUR: u64 = 60 * MINUTE;
        RetrySchedule::new(
            [
                5,
                5 * MINUTE,
                30 * MINUTE,
                2 * HOUR,
                5 * HOUR,
                10 * HOUR,
                10 * HOUR,
            ]
            .map(Duration::from_secs),
        )
    }
}

impl FromStr for RetrySchedule {
    type Err = RetryScheduleError;

    fn from_str(written: &str) -> Result<Self, Self::Err> {
        if written.trim().is_empty() {
            return Ok(RetrySchedule(Vec::new()));
        }
        let delays = written
            .split(',')
            .enumerate()
            .map(|(index, entry)| parse_delay(index + 1, entry.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RetrySchedule(delays))
    }
}

impl fmt::Display for RetrySchedule {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, delay) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str(",")?;
            }
            write_delay(formatter, *delay)?;
        }
        Ok(())
    }
}

/// Units of the written form, largest first, with their length in milliseconds.
const UNITS: [(&str, u64); 5] = [
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
];

fn parse_delay(position: usize, entry: &str) -> Result<Duration, RetryScheduleError> {
    if entry.is_empty() {
        return Err(RetryScheduleError::EmptyEntry { position });
    }
    let digits_end = entry
        .find(|character: char| !character.is_ascii_digit())
        .unwrap_or(entry.len());
    let (digits, unit) = (&entry[..digits_end], entry[digits_end..].trim_start());
    if digits.is_empty() {
        return Err(RetryScheduleError::MissingNumber {
            position,
            entry: entry.to_owned(),
        });
    }
    if unit.is_empty() {
        return Err(RetryScheduleError::MissingUnit {
            position,
            entry: entry.to_owned(),
        });
    }
    let Some((_, unit_millis)) = UNITS.iter().find(|(name, _)| *name == unit) else {
        return Err(RetryScheduleError::UnknownUnit {
            position,
            entry: entry.to_owned(),
            unit: unit.to_owned(),
        });
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|count| count.checked_mul(*unit_millis))
        .map(Duration::from_millis)
        .ok_or_else(|| RetryScheduleError::TooLarge {
            position,
            entry: entry.to_owned(),
        })
}

/// Writes a delay in the largest unit that divides it exactly, so "90s" reads as "90s" and not
/// as "1.5m", and "7200s" reads as "2h".
fn write_delay(formatter: &mut fmt::Formatter<'_>, delay: Duration) -> fmt::Result {
    let millis = delay.as_millis();
    if millis == 0 {
        return formatter.write_str("0s");
    }
    let (name, unit_millis) = UNITS
        .iter()
        .find(|(_, unit_millis)| millis.is_multiple_of(u128::from(*unit_millis)))
        .unwrap_or(&("ms", 1));
    write!(formatter, "{}{name}", millis / u128::from(*unit_millis))
}

/// A delay written as in a schedule (`30d`, `12h`, `1500ms`): the largest exact unit.
pub fn format_delay(delay: Duration) -> String {
    struct Written(Duration);
    impl fmt::Display for Written {
        fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_delay(formatter, self.0)
        }
    }
    Written(delay).to_string()
}

fn truncate_to_millis(delay: Duration) -> Duration {
    Duration::from_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(values: &[u64]) -> RetrySchedule {
        RetrySchedule::new(values.iter().copied().map(Duration::from_secs))
    }

    fn check_parse(written: &str, expected: Result<RetrySchedule, RetryScheduleError>) {
        assert_eq!(
            written.parse::<RetrySchedule>(),
            expected,
            "parse {written:?}"
        );
    }

    #[test]
    fn parses_written_schedules() {
        let cases = [
            ("5s,5m,30m,2h,5h,10h,10h", Ok(RetrySchedule::default())),
            ("", Ok(seconds(&[]))),
            ("   ", Ok(seconds(&[]))),
            ("1s", Ok(seconds(&[1]))),
            (" 1s , 2m ,3h,  1d ", Ok(seconds(&[1, 120, 10_800, 86_400]))),
            ("5 s", Ok(seconds(&[5]))),
            ("0s", Ok(seconds(&[0]))),
            (
                "250ms,1500ms",
                Ok(RetrySchedule::new([250, 1500].map(Duration::from_millis))),
            ),
            ("90s", Ok(seconds(&[90]))),
        ];
        for (written, expected) in cases {
            check_parse(written, expected);
        }
    }

    #[test]
    fn rejects_malformed_schedules() {
        let entry = |text: &str| text.to_owned();
        let cases = [
            ("5s,,5m", RetryScheduleError::EmptyEntry { position: 2 }),
            ("5s,", RetryScheduleError::EmptyEntry { position: 2 }),
            (",5s", RetryScheduleError::EmptyEntry { position: 1 }),
            (
                "s",
                RetryScheduleError::MissingNumber {
                    position: 1,
                    entry: entry("s"),
                },
            ),
            (
                "5s,-5s",
                RetryScheduleError::MissingNumber {
                    position: 2,
                    entry: entry("-5s"),
                },
            ),
            (
                "5",
                RetryScheduleError::MissingUnit {
                    position: 1,
                    entry: entry("5"),
                },
            ),
            (
                "5y",
                RetryScheduleError::UnknownUnit {
                    position: 1,
                    entry: entry("5y"),
                    unit: entry("y"),
                },
            ),
            (
                "1.5h",
                RetryScheduleError::UnknownUnit {
                    position: 1,
                    entry: entry("1.5h"),
                    unit: entry(".5h"),
                },
            ),
            (
                "5S",
                RetryScheduleError::UnknownUnit {
                    position: 1,
                    entry: entry("5S"),
                    unit: entry("S"),
                },
            ),
            (
                "99999999999999999999s",
                RetryScheduleError::TooLarge {
                    position: 1,
                    entry: entry("99999999999999999999s"),
                },
            ),
            (
                "999999999999999d",
                RetryScheduleError::TooLarge {
                    position: 1,
                    entry: entry("999999999999999d"),
                },
            ),
        ];
        for (written, error) in cases {
            check_parse(written, Err(error));
        }
    }

    #[test]
    fn display_uses_the_largest_exact_unit_and_round_trips() {
        let cases = [
            (RetrySchedule::default(), "5s,5m,30m,2h,5h,10h,10h"),
            (seconds(&[]), ""),
            (seconds(&[0]), "0s"),
            (seconds(&[90, 7200, 86_400, 90_000]), "90s,2h,1d,25h"),
            (RetrySchedule::new([Duration::from_millis(1500)]), "1500ms"),
            (
                RetrySchedule::new([Duration::from_micros(2_500_999)]),
                "2500ms",
            ),
        ];
        for (schedule, written) in cases {
            assert_eq!(schedule.to_string(), written);
            assert_eq!(
                written.parse::<RetrySchedule>(),
                Ok(schedule),
                "round trip {written:?}"
            );
        }
    }

    #[test]
    fn delay_after_follows_the_schedule_with_jitter() {
        let schedule = seconds(&[10, 60, 3600]);
        let cases = [
            (0, 0.5, Some(Duration::ZERO)),
            (1, 0.5, Some(Duration::from_secs(10))),
            (1, 0.0, Some(Duration::from_secs(8))),
            (1, 0.25, Some(Duration::from_secs(9))),
            (1, 0.999_999, Some(Duration::from_millis(12_000))),
            (2, 0.5, Some(Duration::from_secs(60))),
            (2, 0.0, Some(Duration::from_secs(48))),
            (3, 0.75, Some(Duration::from_secs(3960))),
            (4, 0.5, None),
            (u32::MAX, 0.5, None),
            // Out-of-range samples are clamped; NaN means no jitter.
            (1, -3.0, Some(Duration::from_secs(8))),
            (1, 7.0, Some(Duration::from_secs(12))),
            (1, f64::NAN, Some(Duration::from_secs(10))),
        ];
        for (failed_attempts, jitter, expected) in cases {
            assert_eq!(
                schedule.delay_after(failed_attempts, jitter),
                expected,
                "delay_after({failed_attempts}, {jitter})"
            );
        }
    }

    #[test]
    fn an_empty_schedule_never_retries_and_huge_delays_saturate() {
        assert_eq!(seconds(&[]).delay_after(1, 0.5), None);
        let huge = RetrySchedule::new([Duration::MAX]);
        assert!(huge.delay_after(1, 0.999).is_some());
    }

    #[test]
    fn max_attempts_counts_the_first_attempt() {
        let cases = [
            (seconds(&[]), 1),
            (seconds(&[1]), 2),
            (RetrySchedule::default(), 8),
        ];
        for (schedule, expected) in cases {
            assert_eq!(schedule.max_attempts(), expected, "{schedule}");
            let last_failed = expected;
            assert_eq!(schedule.delay_after(last_failed, 0.5), None, "{schedule}");
        }
    }
}
