//! Endpoint statistics.
//!
//! `GET /app/{app}/endpoint/{ep}/stats` is Svix's `endpoint.get_stats`: how many of the
//! endpoint's messages are in each state (the latest delivery of each message/endpoint pair),
//! optionally for messages created in `[since, until)`. Parked deliveries count as `fail`, as
//! Svix has no parked state.
//!
//! `GET /app/{app}/endpoint/{ep}/attempt-stats` is Svix's `endpoint.get_attempt_stats`: the
//! endpoint's attempts made in `[since, until)`, widened to whole hours as Svix does
//! (`HourWindow`), by outcome; either bound may be left open.
//!
//! `GET /app/{app}/endpoint/{ep}/stats/window?minutes=60&windows=12` is a hookd extension for
//! the dashboard: over the last `minutes`, cut into `windows` equal windows, the attempts made,
//! their success rate, and the p50/p90/p99 of `responseDurationMs`, plus the same over the whole
//! span.

use axum::extract::State;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::ApiContext;
use super::error::ApiError;
use super::error::ApiResult;
use super::lookup_first::input_after_lookup;
use super::params::{ApiPath, InRange, OpenQuery, QueryPart, optional};
use crate::domain::{EndpointId, HourWindow, Timestamp};
use crate::ops::{AppRef, Named, Principal, delivery_logs};
use crate::store::logs::AttemptSample;

/// Svix `EndpointStats`.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EndpointStatsOut {
    pub success: u64,
    pub pending: u64,
    pub sending: u64,
    pub fail: u64,
    /// hookd never cancels a delivery; present because the SDK requires it.
    pub canceled: u64,
}

/// Svix `EndpointAttemptStats`: attempts by outcome.
#[derive(Debug, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct EndpointAttemptStatsOut {
    pub success: u64,
    pub fail: u64,
    /// hookd never cancels an attempt; present because the SDK requires it.
    pub canceled: u64,
}

/// Attempts in one time window.
#[derive(Debug, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowStats {
    #[schema(value_type = String, format = DateTime)]
    pub start: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub end: Timestamp,
    pub attempts: u64,
    pub success: u64,
    pub fail: u64,
    /// Successful attempts / attempts; absent when no attempt was made.
    pub success_rate: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p90_ms: Option<u64>,
    pub p99_ms: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowStatsOut {
    pub endpoint_id: EndpointId,
    pub overall: WindowStats,
    pub windows: Vec<WindowStats>,
}

/// The query of `GET .../stats`: the time window counted (open-ended when absent).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<Timestamp>,
    #[serde(default, deserialize_with = "optional")]
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<Timestamp>,
}

/// The query of `GET .../stats/window`: the span in minutes (at most a week) cut into
/// `windows` equal windows.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsWindowQuery {
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    minutes: Option<InRange<1, { 7 * 24 * 60 }>>,
    #[serde(default, deserialize_with = "optional")]
    #[param(inline)]
    windows: Option<InRange<1, 240>>,
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/stats[?since=&until=]`
pub async fn get(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    query: QueryPart<StatsQuery>,
) -> ApiResult<Json<EndpointStatsOut>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let StatsQuery { since, until } =
        input_after_lookup(&ctx, &principal, named, query.open()).await?;
    let counts =
        delivery_logs::endpoint_counts(&ctx.ops, &principal, &app_id, &endpoint_id, since, until)
            .await?;
    Ok(Json(EndpointStatsOut {
        success: counts.success,
        pending: counts.pending,
        sending: counts.sending,
        fail: counts.failed + counts.parked,
        canceled: 0,
    }))
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/attempt-stats[?since=&until=]`: 422 naming
/// `until` when it is not after `since`.
pub async fn attempt_stats(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    query: QueryPart<StatsQuery>,
) -> ApiResult<Json<EndpointAttemptStatsOut>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let window = query.open().and_then(|StatsQuery { since, until }| {
        HourWindow::widen(since, until).map_err(|message| ApiError::invalid_query("until", message))
    });
    let window = input_after_lookup(&ctx, &principal, named, window).await?;
    let counts =
        delivery_logs::endpoint_attempt_counts(&ctx.ops, &principal, &app_id, &endpoint_id, window)
            .await?;
    Ok(Json(EndpointAttemptStatsOut {
        success: counts.success,
        fail: counts.fail,
        canceled: 0,
    }))
}

/// `GET /app/{app_id}/endpoint/{endpoint_id}/stats/window[?minutes=60&windows=12]`
pub async fn window(
    State(ctx): State<ApiContext>,
    Extension(principal): Extension<Principal>,
    ApiPath((app_id, endpoint_id)): ApiPath<(String, String)>,
    query: QueryPart<StatsWindowQuery>,
) -> ApiResult<Json<WindowStatsOut>> {
    let named = Named::endpoint(AppRef::Named(&app_id), &endpoint_id);
    let query = input_after_lookup(&ctx, &principal, named, query.open()).await?;
    let minutes = query.minutes.map_or(60, |InRange(minutes)| minutes);
    let windows = query.windows.map_or(12, |InRange(windows)| windows);
    let span = chrono::Duration::minutes(i64::from(minutes));
    let read =
        delivery_logs::endpoint_samples(&ctx.ops, &principal, &app_id, &endpoint_id, span).await?;
    let (start, end) = (read.start, read.end);
    Ok(Json(WindowStatsOut {
        endpoint_id: read.endpoint_id,
        overall: summarize(start, end, &read.samples),
        windows: split_windows(start, end, windows, &read.samples),
    }))
}

/// Cuts `[start, end)` into `count` equal windows and summarizes the samples in each.
pub fn split_windows(
    start: Timestamp,
    end: Timestamp,
    count: u32,
    samples: &[AttemptSample],
) -> Vec<WindowStats> {
    let width = (end - start) / i32::try_from(count).unwrap_or(i32::MAX).max(1);
    (0..count)
        .map(|index| {
            let window_start = start + width * i32::try_from(index).unwrap_or(i32::MAX);
            let window_end = if index + 1 == count {
                end
            } else {
                window_start + width
            };
            let inside: Vec<AttemptSample> = samples
                .iter()
                .filter(|sample| {
                    sample.created_at >= window_start
                        && (sample.created_at < window_end
                            || (index + 1 == count && sample.created_at == end))
                })
                .copied()
                .collect();
            summarize(window_start, window_end, &inside)
        })
        .collect()
}

/// Counts, success rate and latency percentiles of the given samples.
pub fn summarize(start: Timestamp, end: Timestamp, samples: &[AttemptSample]) -> WindowStats {
    let attempts = samples.len() as u64;
    let success = samples.iter().filter(|sample| sample.success).count() as u64;
    let mut durations: Vec<u64> = samples.iter().map(|sample| sample.duration_ms).collect();
    durations.sort_unstable();
    WindowStats {
        start,
        end,
        attempts,
        success,
        fail: attempts - success,
        success_rate: (attempts > 0).then(|| success as f64 / attempts as f64),
        p50_ms: percentile(&durations, 50),
        p90_ms: percentile(&durations, 90),
        p99_ms: percentile(&durations, 99),
    }
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `percent`%
/// of the values at or below it.
fn percentile(sorted: &[u64], percent: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_percentile(values: &[u64], percent: usize, expected: Option<u64>) {
        assert_eq!(
            percentile(values, percent),
            expected,
            "{values:?} p{percent}"
        );
    }

    #[test]
    fn nearest_rank_percentiles() {
        check_percentile(&[], 50, None);
        check_percentile(&[7], 50, Some(7));
        check_percentile(&[7], 99, Some(7));
        check_percentile(&[1, 2, 3, 4], 50, Some(2));
        check_percentile(&[1, 2, 3, 4], 99, Some(4));
        let hundred: Vec<u64> = (1..=100).collect();
        check_percentile(&hundred, 50, Some(50));
        check_percentile(&hundred, 90, Some(90));
        check_percentile(&hundred, 99, Some(99));
    }

    #[test]
    fn samples_fall_into_their_windows() {
        let start = chrono::DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z")
            .unwrap()
            .to_utc();
        let end = start + chrono::Duration::minutes(60);
        let sample = |minute: i64, success: bool, duration_ms: u64| AttemptSample {
            created_at: start + chrono::Duration::minutes(minute),
            success,
            duration_ms,
        };
        let samples = [
            sample(0, true, 10),
            sample(5, false, 30),
            sample(59, true, 20),
            sample(60, true, 40),
        ];
        let windows = split_windows(start, end, 4, &samples);
        assert_eq!(windows.len(), 4);
        assert_eq!(windows[0].attempts, 2);
        assert_eq!(windows[0].success_rate, Some(0.5));
        assert_eq!(windows[0].p50_ms, Some(10));
        assert_eq!(windows[0].p99_ms, Some(30));
        assert_eq!(windows[1].attempts, 0);
        assert_eq!(windows[1].success_rate, None);
        assert_eq!(windows[3].start, start + chrono::Duration::minutes(45));
        assert_eq!(windows[3].end, end);
        assert_eq!(windows[3].attempts, 2);
        let overall = summarize(start, end, &samples);
        assert_eq!((overall.attempts, overall.success, overall.fail), (4, 3, 1));
        assert_eq!(overall.p50_ms, Some(20));
    }
}
