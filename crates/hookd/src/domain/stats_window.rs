//! The time window of an endpoint's attempt statistics (Svix `endpoint.get_attempt_stats`),
//! which Svix always widens to whole hours: the start down to its hour, the end up to the next
//! one. Either side may be open.

use chrono::{DurationRound, TimeDelta};

use super::Timestamp;

/// `[start, end)` in whole hours; `None` is open on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourWindow {
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
}

impl HourWindow {
    /// The window from `since` to `until`, widened to whole hours, or why not: `since` must be
    /// before `until`.
    pub fn widen(
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<HourWindow, &'static str> {
        if let (Some(since), Some(until)) = (since, until)
            && since >= until
        {
            return Err("until must be after since");
        }
        let hour = TimeDelta::hours(1);
        Ok(HourWindow {
            start: since.map(|since| since.duration_trunc(hour).unwrap_or(since)),
            end: until.map(|until| {
                let floor = until.duration_trunc(hour).unwrap_or(until);
                if floor == until { until } else { floor + hour }
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        chrono::DateTime::parse_from_rfc3339(text).unwrap().to_utc()
    }

    fn check(
        since: Option<&str>,
        until: Option<&str>,
        expected: Result<(Option<&str>, Option<&str>), &str>,
    ) {
        let actual = HourWindow::widen(since.map(at), until.map(at));
        let expected = expected.map(|(start, end)| HourWindow {
            start: start.map(at),
            end: end.map(at),
        });
        assert_eq!(actual, expected, "{since:?}..{until:?}");
    }

    #[test]
    fn windows_widen_to_whole_hours() {
        check(None, None, Ok((None, None)));
        check(
            Some("2024-05-06T07:08:09.5Z"),
            Some("2024-05-06T07:30:00Z"),
            Ok((Some("2024-05-06T07:00:00Z"), Some("2024-05-06T08:00:00Z"))),
        );
        check(
            Some("2024-05-06T07:00:00Z"),
            Some("2024-05-06T09:00:00Z"),
            Ok((Some("2024-05-06T07:00:00Z"), Some("2024-05-06T09:00:00Z"))),
        );
        check(
            Some("2024-05-06T07:59:59+02:00"),
            None,
            Ok((Some("2024-05-06T05:00:00Z"), None)),
        );
        check(
            None,
            Some("2024-05-06T23:00:01Z"),
            Ok((None, Some("2024-05-07T00:00:00Z"))),
        );
        check(
            Some("2024-05-06T07:00:00Z"),
            Some("2024-05-06T07:00:00Z"),
            Err("until must be after since"),
        );
        check(
            Some("2024-05-06T08:00:00Z"),
            Some("2024-05-06T07:00:00Z"),
            Err("until must be after since"),
        );
    }
}
