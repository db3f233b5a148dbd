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
use crate::pg_stats::StatementCounts;

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
    /// What the run could not do and why (a scenario skipped, statements not counted).
    pub notes: Vec<String>,
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
    /// hookd's PostgreSQL statements over the load phase (`pg_stat_statements`), when counted.
    pub pg_statements: Option<StatementCounts>,
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
/// The detail holding hookd's PostgreSQL statements per delivery (all, utility ones included).
pub const PG_PER_DELIVERY: &str = "PG statements per delivery";
/// The backlog's detail holding how many messages were queued (its count is those delivered).
pub const QUEUED: &str = "queued";

/// Where one issue-3 or issue-15 target stands.
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    /// The issue that set the target.
    pub issue: u32,
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

    /// Checks every issue-3 and issue-15 target against the results present.
    pub fn check_targets(&mut self) {
        self.targets = crate::targets::check_targets(&self.results, &self.database);
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
        for note in &self.notes {
            let _ = writeln!(out, "Note: {note}\n");
        }
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
            if let Some(counts) = &result.pg_statements {
                let _ = writeln!(
                    out,
                    "  - PG statements: {} top-level calls ({} BEGIN/COMMIT/ROLLBACK) for {} deliveries, and {} nested (trigger checks, not round trips); top-level by calls:",
                    counts.calls,
                    counts.transaction_control_calls,
                    counts.deliveries,
                    counts.nested_calls
                );
                for statement in &counts.top {
                    let _ = writeln!(
                        out,
                        "    - {} × ({:.0} ms in all) `{}`",
                        statement.calls,
                        statement.total_exec_ms,
                        statement.query.replace('`', "'")
                    );
                }
            }
        }
        out.push_str("\n| issue | target | measured | status |\n|--:|---|---|---|\n");
        for target in &self.targets {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                target.issue, target.target, target.measured, target.status
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
