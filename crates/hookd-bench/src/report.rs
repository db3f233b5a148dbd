//! Results: one `CaseResult` per measured case, latency percentiles, the issue-3 targets checked
//! against them, and the two renderings: `bench-results.json` for machines and a Markdown table
//! for people (and for BENCHMARKS.md).
//!
//! Nothing here measures; it only summarises and formats what the scenarios measured.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::cpu::PhaseCpu;
use crate::hookd_process::ProcessUsage;
use crate::machine::Machine;

/// The whole run, as written to `bench-results.json`.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    pub machine: Machine,
    pub started_at_unix: u64,
    pub hookd_binary: String,
    /// When the binary was built (its modification time), to tell builds apart.
    pub hookd_binary_modified_unix: u64,
    /// `HOOKD_*` variables of the benchmark's environment, which the hookd children inherit
    /// (the admin token is always the benchmark's own).
    pub hookd_environment: Vec<String>,
    /// `sqlite` or the scheme of `--database-url`.
    pub database: String,
    pub quick: bool,
    pub results: Vec<CaseResult>,
    pub targets: Vec<TargetCheck>,
}

/// One measured case of a scenario.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// Stable identifier used to find the case again, e.g. `delivery/1-endpoint`.
    pub key: String,
    pub scenario: String,
    /// What was run, for people: e.g. "64 clients, no endpoint".
    pub case: String,
    /// How many units were completed.
    pub count: u64,
    /// What was counted: requests, messages or deliveries.
    pub unit: String,
    pub rate_per_sec: f64,
    pub elapsed_secs: f64,
    /// The latency that matters for the case: request latency for ceiling and ingest,
    /// send-to-receipt for the delivery scenarios.
    pub latency: Option<Percentiles>,
    pub errors: u64,
    pub first_error: Option<String>,
    /// The hookd process over the whole case; `None` where no hookd ran (the ceiling).
    pub hookd: Option<ProcessUsage>,
    /// CPU used by hookd and by the benchmark during the measured phase only (from its first
    /// request to its last answer or receipt), read from `/proc/<pid>/stat` before and after.
    pub phase_cpu: Option<PhaseCpu>,
    /// hookd's CPU over the phase per counted unit: the client's and receiver's cost left out.
    pub hookd_cpu_us_per_unit: Option<f64>,
    /// The benchmark process's (clients and receiver) CPU over the phase per counted unit.
    pub bench_cpu_us_per_unit: Option<f64>,
    /// Durable 512-byte writes per second on the data directory's disk, just before the scenario.
    pub fsync_per_sec: f64,
    /// Further figures particular to the case (accept-to-receipt latency, drain time, ...).
    pub details: serde_json::Map<String, serde_json::Value>,
}

impl CaseResult {
    /// Fills the per-unit CPU figures from `phase_cpu` and `count`.
    pub fn compute_cpu_per_unit(&mut self) {
        if let Some(phase) = self.phase_cpu {
            self.hookd_cpu_us_per_unit = phase.hookd_us_per(self.count);
            self.bench_cpu_us_per_unit = phase.bench_us_per(self.count);
            if let Some(hookd) = phase.hookd_seconds {
                self.details.insert(
                    "hookd CPUs busy".into(),
                    serde_json::json!(hookd / phase.wall_seconds.max(1e-9)),
                );
            }
        }
    }
}

/// Latency percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub samples: usize,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The detail holding the 202-to-receipt p99, in milliseconds.
pub const ACCEPT_P99: &str = "accept→receipt p99 ms";
/// The backlog's detail holding how many messages were queued (its count is those delivered).
pub const QUEUED: &str = "queued";

/// Where one issue-3 target stands.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    /// `met`, `missed` or `not run`.
    pub status: String,
}

impl Percentiles {
    /// `None` when there are no samples.
    pub fn of(mut samples: Vec<Duration>) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |quantile: f64| {
            let rank = (quantile * samples.len() as f64).ceil() as usize;
            samples[rank.clamp(1, samples.len()) - 1].as_secs_f64() * 1000.0
        };
        Some(Percentiles {
            samples: samples.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        })
    }
}

impl BenchReport {
    pub fn find(&self, key: &str) -> Option<&CaseResult> {
        self.results.iter().find(|result| result.key == key)
    }

    /// Checks every issue-3 target against the results present.
    pub fn check_targets(&mut self) {
        self.targets = check_targets(&self.results);
    }

    /// The run as Markdown: machine, results table, per-case details, targets.
    pub fn to_markdown(&self) -> String {
        let mut out = String::new();
        let machine = &self.machine;
        let _ = writeln!(
            out,
            "Machine: {} CPUs ({}), {:.1} GiB memory, Linux {}; database: {}; hookd: `{}`{}\n",
            machine.cpus,
            machine.cpu_model,
            machine.memory_gib,
            machine.kernel,
            self.database,
            self.hookd_binary,
            if self.quick { "; `--quick` sizes" } else { "" },
        );
        if !self.hookd_environment.is_empty() {
            let _ = writeln!(
                out,
                "hookd environment: `{}`\n",
                self.hookd_environment.join(" ")
            );
        }
        out.push_str(
            "| scenario | case | count | rate /s | p50 ms | p90 ms | p99 ms | max ms | errors | hookd peak RSS MB | hookd CPU s (case) | hookd CPU µs/unit | bench CPU µs/unit | disk fsync/s |\n\
             |---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
        );
        for result in &self.results {
            let latency = |pick: fn(&Percentiles) -> f64| {
                result
                    .latency
                    .map_or("–".to_owned(), |latency| format!("{:.1}", pick(&latency)))
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} {} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} |",
                result.scenario,
                result.case,
                result.count,
                result.unit,
                result.rate_per_sec,
                latency(|latency| latency.p50_ms),
                latency(|latency| latency.p90_ms),
                latency(|latency| latency.p99_ms),
                latency(|latency| latency.max_ms),
                result.errors,
                result.hookd.map_or("–".to_owned(), |usage| format!(
                    "{:.0}",
                    usage.peak_rss_mb
                )),
                result.hookd.map_or("–".to_owned(), |usage| format!(
                    "{:.1}",
                    usage.cpu_seconds
                )),
                per_unit(result.hookd_cpu_us_per_unit),
                per_unit(result.bench_cpu_us_per_unit),
                result.fsync_per_sec,
            );
        }
        out.push('\n');
        for result in &self.results {
            if result.details.is_empty() && result.first_error.is_none() {
                continue;
            }
            let mut details: Vec<String> = result
                .details
                .iter()
                .map(|(name, value)| format!("{name} {}", render_value(value)))
                .collect();
            if let Some(error) = &result.first_error {
                details.push(format!("first error: {error}"));
            }
            let _ = writeln!(
                out,
                "- {} / {}: {}",
                result.scenario,
                result.case,
                details.join("; ")
            );
        }
        out.push_str("\n| target (issue 3) | measured | status |\n|---|---|---|\n");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} |",
                target.target, target.measured, target.status
            );
        }
        out
    }
}

fn per_unit(value: Option<f64>) -> String {
    value.map_or("–".to_owned(), |us| format!("{us:.0}"))
}

fn render_value(value: &serde_json::Value) -> String {
    match value.as_f64() {
        Some(number) if number.fract() != 0.0 => format!("{number:.1}"),
        _ => value.to_string().trim_matches('"').to_owned(),
    }
}

fn check_targets(results: &[CaseResult]) -> Vec<TargetCheck> {
    let find = |key: &str| results.iter().find(|result| result.key == key);
    let mut checks = Vec::new();

    checks.push(check(
        "durable ingest >= 10,000 messages/s",
        best_rate(results, "ingest/")
            .map(|rate| (format!("{rate:.0}/s (best case)"), rate >= 10_000.0)),
    ));

    let ceiling = best_rate(results, "ceiling/");
    for (key, label) in [
        (
            "delivery/1-endpoint",
            "delivery >= 50% of ceiling (1 endpoint)",
        ),
        (
            "delivery/10-endpoints",
            "delivery >= 50% of ceiling (fan-out 10)",
        ),
    ] {
        let measured = find(key).zip(ceiling).map(|(delivery, ceiling)| {
            let ratio = delivery.rate_per_sec / ceiling;
            (
                format!(
                    "{:.0}/s of {:.0}/s = {:.0}%",
                    delivery.rate_per_sec,
                    ceiling,
                    ratio * 100.0
                ),
                ratio >= 0.5,
            )
        });
        checks.push(check(label, measured));
    }

    // The "accept" is hookd's 202; the time from the start of the API call, which adds
    // the durable commit, is shown next to it.
    let latency = find("latency/1000-per-sec").and_then(|result| {
        let from_accept = result.details.get(ACCEPT_P99)?.as_f64()?;
        let from_call = result.latency?.p99_ms;
        Some((
            format!("p99 {from_accept:.1} ms from the 202 ({from_call:.1} ms from the API call)"),
            from_accept < 20.0,
        ))
    });
    checks.push(check(
        "p99 accept-to-receipt < 20 ms at 1,000 messages/s",
        latency,
    ));

    let isolation_rates = results.iter().filter_map(|result| {
        result
            .key
            .strip_prefix("isolation/")?
            .strip_suffix("/with-slow")
    });
    let mut isolation_checked = false;
    for rate in isolation_rates {
        let find_latency = |variant: &str| {
            find(&format!("isolation/{rate}/{variant}")).and_then(|result| result.latency)
        };
        let measured =
            find_latency("with-slow")
                .zip(find_latency("baseline"))
                .map(|(with_slow, baseline)| {
                    let ratio = with_slow.p99_ms / baseline.p99_ms.max(1e-3);
                    (
                        format!(
                            "{rate}: p99 {:.1} ms vs {:.1} ms = {ratio:.2}x",
                            with_slow.p99_ms, baseline.p99_ms
                        ),
                        ratio <= 2.0,
                    )
                });
        checks.push(check(
            "isolation: healthy p99 within 2x of the run without the slow endpoint",
            measured,
        ));
        isolation_checked = true;
    }
    if !isolation_checked {
        checks.push(check(
            "isolation: healthy p99 within 2x of the run without the slow endpoint",
            None,
        ));
    }

    let backlog = find("backlog/drain");
    checks.push(check(
        "backlog: peak RSS < 200 MB",
        backlog.and_then(|result| {
            let usage = result.hookd?;
            let queued = result
                .details
                .get(QUEUED)
                .and_then(serde_json::Value::as_u64)
                .unwrap_or(result.count);
            Some((
                format!("{:.0} MB with {queued} queued", usage.peak_rss_mb),
                usage.peak_rss_mb < 200.0,
            ))
        }),
    ));
    let delivery = find("delivery/1-endpoint").map(|result| result.rate_per_sec);
    checks.push(check(
        "backlog: drain >= 80% of the delivery rate",
        backlog.zip(delivery).map(|(backlog, delivery)| {
            let ratio = backlog.rate_per_sec / delivery;
            (
                format!(
                    "{:.0}/s of {:.0}/s = {:.0}%",
                    backlog.rate_per_sec,
                    delivery,
                    ratio * 100.0
                ),
                ratio >= 0.8,
            )
        }),
    ));
    checks
}

/// The highest rate among the cases whose key starts with `prefix`.
fn best_rate(results: &[CaseResult], prefix: &str) -> Option<f64> {
    results
        .iter()
        .filter(|result| result.key.starts_with(prefix))
        .map(|result| result.rate_per_sec)
        .reduce(f64::max)
}

fn check(target: &str, measured: Option<(String, bool)>) -> TargetCheck {
    let (measured, status) = match measured {
        Some((measured, true)) => (measured, "met"),
        Some((measured, false)) => (measured, "missed"),
        None => ("–".to_owned(), "not run"),
    };
    TargetCheck {
        target: target.to_owned(),
        measured,
        status: status.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&ms| Duration::from_millis(ms)).collect()
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let check = |samples: &[u64], expected: (f64, f64, f64, f64)| {
            let got = Percentiles::of(millis(samples)).expect("samples");
            assert_eq!(
                (got.p50_ms, got.p90_ms, got.p99_ms, got.max_ms),
                expected,
                "{samples:?}"
            );
        };
        check(&[7], (7.0, 7.0, 7.0, 7.0));
        check(&[4, 1, 3, 2], (2.0, 4.0, 4.0, 4.0));
        check(&(1..=100).collect::<Vec<_>>(), (50.0, 90.0, 99.0, 100.0));
        assert!(Percentiles::of(Vec::new()).is_none());
    }
}
