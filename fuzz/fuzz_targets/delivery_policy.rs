//! What a receiver answers, as an attempt reads it, and the retry schedule: on arbitrary input
//! nothing may panic, and
//! - `Retry-After` (seconds or any HTTP-date) is never longer than `MAX_RETRY_AFTER`, and
//!   `classify_status` keeps exactly what `parse_retry_after` reads;
//! - what is kept of a header value or body is a prefix of its lossy text, within the limit;
//! - a retry schedule as written (`--retry-schedule`, an endpoint's `retrySchedule`) that
//!   parses writes back to text that parses to the same schedule, and so does every schedule
//!   built from delays; its jittered delays stay within 80-120% of the written ones.
#![no_main]

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookd::engine::client::lossy_prefix;
use hookd::policy::outcome::{AttemptOutcome, MAX_RETRY_AFTER, classify_status, parse_retry_after};
use hookd::policy::retry::{RetrySchedule, format_delay};
use libfuzzer_sys::fuzz_target;

#[derive(arbitrary::Arbitrary, Debug)]
struct Input<'a> {
    status: u16,
    retry_after: &'a str,
    now_secs: u64,
    limit: u16,
    schedule: &'a str,
    delays_millis: Vec<u64>,
    failed_attempts: u32,
    jitter: f64,
    answer: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    // Beyond year 9999 no HTTP-date can be "now", and SystemTime can overflow adding to it.
    let now = UNIX_EPOCH + Duration::from_secs(input.now_secs % 253_402_300_800);
    check_retry_after(input.status, input.retry_after, now);
    check_kept_prefix(input.answer, usize::from(input.limit));
    if let Ok(schedule) = RetrySchedule::from_str(input.schedule) {
        check_schedule(&schedule, input.failed_attempts, input.jitter);
    }
    let built = RetrySchedule::new(
        input
            .delays_millis
            .iter()
            .map(|millis| Duration::from_millis(*millis)),
    );
    check_schedule(&built, input.failed_attempts, input.jitter);
    for delay in built.delays() {
        let written = format_delay(*delay);
        assert_eq!(
            RetrySchedule::from_str(&written).map(|parsed| parsed.delays().to_vec()),
            Ok(vec![*delay]),
            "format_delay({delay:?}) = {written:?}"
        );
    }
});

fn check_retry_after(status: u16, header: &str, now: SystemTime) {
    let parsed = parse_retry_after(header, now);
    if let Some(delay) = parsed {
        assert!(delay <= MAX_RETRY_AFTER, "{header:?} gave {delay:?}");
    }
    match classify_status(status, Some(header), now) {
        AttemptOutcome::Delivered { status: delivered } => {
            assert!((200..300).contains(&status));
            assert_eq!(delivered, status);
        }
        AttemptOutcome::Failed {
            status: failed,
            retry_after,
            ..
        } => {
            assert!(!(200..300).contains(&status));
            assert_eq!(failed, Some(status));
            assert_eq!(retry_after, parsed);
        }
    }
}

fn check_kept_prefix(answer: &[u8], limit: usize) {
    let kept = lossy_prefix(answer, limit);
    assert!(kept.len() <= limit);
    assert!(String::from_utf8_lossy(answer).starts_with(&kept));
}

fn check_schedule(schedule: &RetrySchedule, failed_attempts: u32, jitter: f64) {
    let written = schedule.to_string();
    assert_eq!(
        RetrySchedule::from_str(&written).as_ref(),
        Ok(schedule),
        "{schedule:?} wrote {written:?}"
    );
    assert_eq!(
        schedule.max_attempts() as usize,
        schedule.delays().len() + 1
    );
    let Some(delay) = schedule.delay_after(failed_attempts, jitter) else {
        assert!(failed_attempts as usize > schedule.delays().len());
        return;
    };
    let Some(index) = failed_attempts.checked_sub(1) else {
        assert_eq!(delay, Duration::ZERO, "the first attempt is due at once");
        return;
    };
    let written = schedule.delays()[index as usize].as_millis() as f64;
    let jittered = delay.as_millis() as f64;
    // f64 rounding: allow a millisecond, and a relative error for delays beyond 2^53 ms.
    let slack = 1.0 + written * 1e-12;
    assert!(
        jittered + slack >= written * 0.8 && jittered <= written * 1.2 + slack,
        "{written} ms jittered to {jittered} ms"
    );
}
