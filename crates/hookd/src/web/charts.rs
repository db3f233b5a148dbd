//! Server-rendered inline SVG charts of an endpoint's attempts: stacked bars of delivered and
//! failed attempts per time bucket, and a line of each bucket's median latency. Colours come
//! from classes in the stylesheet (the CSP allows no inline styles).

use std::fmt::Write;

use crate::domain::Timestamp;
use crate::store::logs::AttemptSample;

/// Success rate and latency percentiles of a set of attempts.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    pub attempts: usize,
    pub succeeded: usize,
    pub median_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

impl Summary {
    pub fn success_rate_label(&self) -> String {
        match self.attempts {
            0 => "–".to_owned(),
            n => format!("{:.1}%", self.succeeded as f64 * 100.0 / n as f64),
        }
    }

    /// `ok` at 99 % and above, `warn` from 90 %, `bad` below.
    pub fn tone(&self) -> &'static str {
        if self.attempts == 0 {
            return "muted";
        }
        let rate = self.succeeded as f64 / self.attempts as f64;
        if rate >= 0.99 {
            "ok"
        } else if rate >= 0.9 {
            "warn"
        } else {
            "bad"
        }
    }

    pub fn median_label(&self) -> String {
        self.median_ms
            .map_or("–".to_owned(), |ms| format!("{ms} ms"))
    }

    pub fn p95_label(&self) -> String {
        self.p95_ms.map_or("–".to_owned(), |ms| format!("{ms} ms"))
    }
}

pub fn summarise(samples: &[AttemptSample]) -> Summary {
    let mut durations: Vec<u64> = samples.iter().map(|s| s.duration_ms).collect();
    durations.sort_unstable();
    Summary {
        attempts: samples.len(),
        succeeded: samples.iter().filter(|s| s.success).count(),
        median_ms: percentile(&durations, 50),
        p95_ms: percentile(&durations, 95),
    }
}

/// The `percent`th percentile of sorted values (nearest rank).
fn percentile(sorted: &[u64], percent: usize) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * percent).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 180.0;
const PAD_LEFT: f64 = 36.0;
const PAD_BOTTOM: f64 = 22.0;

/// The chart of `samples` between `start` and `end` in `buckets` equal buckets.
pub fn attempts_chart(
    samples: &[AttemptSample],
    start: Timestamp,
    end: Timestamp,
    buckets: usize,
) -> String {
    let span = (end - start).num_milliseconds().max(1) as f64;
    let mut ok = vec![0u64; buckets];
    let mut failed = vec![0u64; buckets];
    let mut durations: Vec<Vec<u64>> = vec![Vec::new(); buckets];
    for sample in samples {
        let offset = (sample.created_at - start).num_milliseconds().max(0) as f64;
        let bucket = ((offset / span * buckets as f64) as usize).min(buckets - 1);
        if sample.success {
            ok[bucket] += 1;
        } else {
            failed[bucket] += 1;
        }
        durations[bucket].push(sample.duration_ms);
    }
    let most = ok
        .iter()
        .zip(&failed)
        .map(|(a, b)| a + b)
        .max()
        .unwrap_or(0)
        .max(1);
    let medians: Vec<Option<u64>> = durations
        .iter_mut()
        .map(|values| {
            values.sort_unstable();
            percentile(values, 50)
        })
        .collect();
    let slowest = medians.iter().flatten().copied().max().unwrap_or(0).max(1);
    let plot_width = WIDTH - PAD_LEFT;
    let plot_height = HEIGHT - PAD_BOTTOM;
    let slot = plot_width / buckets as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg class="chart-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="Attempts and median latency per bucket">"#
    );
    // At most four gridlines, at whole numbers of attempts.
    let lines = most.min(4);
    for line in 0..=lines {
        let value = most * (lines - line) / lines;
        let y = plot_height * (1.0 - value as f64 / most as f64);
        let _ = write!(
            svg,
            r#"<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}"/><text class="axis" x="{:.1}" y="{:.1}" text-anchor="end">{value}</text>"#,
            PAD_LEFT - 6.0,
            y + 4.0
        );
    }
    let mut points = Vec::new();
    for bucket in 0..buckets {
        let x = PAD_LEFT + slot * bucket as f64 + slot * 0.15;
        let bar = slot * 0.7;
        let ok_height = plot_height * ok[bucket] as f64 / most as f64;
        let failed_height = plot_height * failed[bucket] as f64 / most as f64;
        if ok[bucket] > 0 {
            let _ = write!(
                svg,
                r#"<rect class="bar-ok" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{ok_height:.1}" rx="2"><title>{} delivered</title></rect>"#,
                plot_height - ok_height,
                ok[bucket]
            );
        }
        if failed[bucket] > 0 {
            let _ = write!(
                svg,
                r#"<rect class="bar-bad" x="{x:.1}" y="{:.1}" width="{bar:.1}" height="{failed_height:.1}" rx="2"><title>{} failed</title></rect>"#,
                plot_height - ok_height - failed_height,
                failed[bucket]
            );
        }
        if let Some(median) = medians[bucket] {
            let cx = PAD_LEFT + slot * (bucket as f64 + 0.5);
            let cy = plot_height - plot_height * 0.9 * median as f64 / slowest as f64;
            points.push(format!("{cx:.1},{cy:.1}"));
        }
    }
    if !points.is_empty() {
        let _ = write!(
            svg,
            r#"<polyline class="latency" points="{}"/>"#,
            points.join(" ")
        );
        for point in &points {
            let (cx, cy) = point.split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                svg,
                r#"<circle class="latency-dot" cx="{cx}" cy="{cy}" r="2.5"/>"#
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text class="axis" x="{PAD_LEFT}" y="{}">{}</text><text class="axis" x="{WIDTH}" y="{}" text-anchor="end">now · slowest median {slowest} ms</text></svg>"#,
        HEIGHT - 4.0,
        start.format("%H:%M"),
        HEIGHT - 4.0,
    );
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(success: bool, duration_ms: u64) -> AttemptSample {
        AttemptSample {
            created_at: Timestamp::UNIX_EPOCH,
            success,
            duration_ms,
        }
    }

    #[test]
    fn summaries() {
        let samples: Vec<_> = (1..=20).map(|ms| sample(ms != 20, ms)).collect();
        let summary = summarise(&samples);
        assert_eq!(summary.success_rate_label(), "95.0%");
        assert_eq!(summary.tone(), "warn");
        assert_eq!(summary.median_ms, Some(10));
        assert_eq!(summary.p95_ms, Some(19));
        assert_eq!(summarise(&[]).success_rate_label(), "–");
    }

    #[test]
    fn the_chart_has_one_bar_per_kind_of_outcome() {
        let start = Timestamp::UNIX_EPOCH;
        let end = start + chrono::Duration::hours(1);
        let svg = attempts_chart(&[sample(true, 5), sample(false, 9)], start, end, 4);
        assert_eq!(svg.matches("bar-ok").count(), 1);
        assert_eq!(svg.matches("bar-bad").count(), 1);
        assert!(!svg.contains("style="));
    }

    #[test]
    fn gridlines_are_whole_numbers_without_repeats() {
        let start = Timestamp::UNIX_EPOCH;
        let end = start + chrono::Duration::hours(1);
        let svg = attempts_chart(
            &[sample(true, 5), sample(true, 6), sample(false, 9)],
            start,
            end,
            4,
        );
        for label in [">0<", ">1<", ">2<", ">3<"] {
            assert_eq!(svg.matches(label).count(), 1, "{label} in {svg}");
        }
    }
}
