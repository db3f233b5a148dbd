//! `hookd-bench`: measures a real hookd process through its HTTP API, the way issue 3 asks.
//!
//! `cargo run --release -p hookd-bench -- all` starts the release build of hookd as a child
//! process (one fresh instance and data directory per case), a fast webhook receiver inside this
//! process, and concurrent API clients; it prints progress on stderr, then a Markdown table on
//! stdout, and writes every figure to `bench-results.json`. All traffic stays on 127.0.0.1.
//!
//! This file is the command line only; `scenarios` holds what is measured.

mod cpu;
mod disk;
mod hookd_api;
mod hookd_process;
mod load;
mod machine;
mod pg_schema;
mod pg_stats;
mod progress;
mod receiver;
mod report;
mod scenarios;
mod targets;

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use clap::Parser;

use crate::hookd_process::{HookdLaunch, ensure_hookd_binary};
use crate::machine::Machine;
use crate::report::BenchReport;
use crate::scenarios::{Bench, Scenario, Sizes};

#[derive(Debug, Parser)]
#[command(
    name = "hookd-bench",
    about = "Benchmarks hookd: ceiling, ingest, inbound, delivery, latency, isolation, backlog, nodes"
)]
struct Cli {
    /// Scenarios to run, in order, or `all`.
    #[arg(required = true, value_parser = parse_scenarios)]
    scenarios: Vec<Vec<Scenario>>,
    /// The hookd binary; built with `cargo build --release -p hookd` when missing.
    #[arg(long, default_value = "target/release/hookd")]
    hookd_bin: PathBuf,
    /// PostgreSQL for hookd (SQLite in the data directory when absent). Each hookd gets a fresh
    /// schema in this database, dropped after its case.
    #[arg(long)]
    database_url: Option<String>,
    /// Small counts for every scenario: the whole run takes about a minute.
    #[arg(long)]
    quick: bool,
    /// Messages of each ingest case and signed requests of each inbound case (defaults 200,000
    /// and 50,000; 10,000 each with --quick).
    #[arg(long)]
    ingest_messages: Option<u64>,
    /// Messages queued in the backlog scenario (default 1,000,000; 10,000 with --quick).
    #[arg(long)]
    backlog: Option<u64>,
    /// Messages per second in the isolation scenario (each goes to every endpoint); repeat for
    /// several cases (default 20 and 60).
    #[arg(long)]
    isolation_rate: Vec<f64>,
    /// Messages per second of a fixed-rate latency case; repeat for several (default 1,000 and
    /// 400). The case at 80% of the delivery rate always follows them.
    #[arg(long)]
    latency_rate: Vec<f64>,
    /// Seconds of fixed-rate load in the latency and isolation scenarios.
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Where hookd's data directories go; its disk is the one the fsync probe measures.
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// `RUST_LOG` for hookd (its own default is `info`).
    #[arg(long, default_value = "info")]
    hookd_log: String,
    /// The machine-readable results file.
    #[arg(long, default_value = "bench-results.json")]
    output: PathBuf,
}

fn parse_scenarios(name: &str) -> Result<Vec<Scenario>, String> {
    if name == "all" {
        return Ok(Scenario::ALL.to_vec());
    }
    <Scenario as clap::ValueEnum>::from_str(name, true)
        .map(|scenario| vec![scenario])
        .map_err(|_| {
            format!("unknown scenario {name:?}: use all, ceiling, ingest, inbound, delivery, latency, isolation, backlog or nodes")
        })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let scenarios: Vec<Scenario> = cli.scenarios.iter().flatten().copied().collect();
    ensure_hookd_binary(&cli.hookd_bin)?;

    let mut sizes = if cli.quick {
        Sizes::quick()
    } else {
        Sizes::full()
    };
    if let Some(messages) = cli.ingest_messages {
        sizes.ingest_messages = messages;
        sizes.inbound_requests = messages;
    }
    if let Some(backlog) = cli.backlog {
        sizes.backlog_messages = backlog;
    }
    if !cli.isolation_rate.is_empty() {
        sizes.isolation_rates.clone_from(&cli.isolation_rate);
    }
    if !cli.latency_rate.is_empty() {
        sizes.latency_rates.clone_from(&cli.latency_rate);
    }
    if let Some(seconds) = cli.duration_secs {
        sizes.latency_duration = std::time::Duration::from_secs(seconds);
        sizes.isolation_duration = std::time::Duration::from_secs(seconds);
    }
    let launch = HookdLaunch {
        binary: cli.hookd_bin.clone(),
        database_url: cli.database_url.clone(),
        work_dir: cli.work_dir.clone().unwrap_or_else(std::env::temp_dir),
        log_level: cli.hookd_log.clone(),
    };
    let report = BenchReport {
        machine: Machine::describe(),
        started_at_unix: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs()),
        hookd_binary: cli.hookd_bin.display().to_string(),
        hookd_binary_modified_unix: std::fs::metadata(&cli.hookd_bin)
            .and_then(|metadata| metadata.modified())
            .ok()
            .and_then(|modified| modified.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_secs()),
        hookd_environment: std::env::vars()
            .filter(|(name, _)| name.starts_with("HOOKD_") && name != "HOOKD_ADMIN_TOKEN")
            .map(|(name, value)| format!("{name}={value}"))
            .collect(),
        database: cli
            .database_url
            .as_deref()
            .map_or("sqlite".to_owned(), |url| {
                url.split_once(':')
                    .map_or(url, |(scheme, _)| scheme)
                    .to_owned()
            }),
        quick: cli.quick,
        notes: Vec::new(),
        results: Vec::new(),
        targets: Vec::new(),
    };

    let mut bench = Bench::new(launch, sizes, report)?;
    bench.open_pg_counting().await;
    // A failed scenario is reported and the others still run: a long run should not lose the
    // results it already has.
    let mut failed = Vec::new();
    for scenario in scenarios {
        if let Err(error) = bench.run(scenario).await {
            eprintln!("scenario {} failed: {error:#}", scenario.name());
            failed.push(scenario.name());
        }
    }

    let mut report = bench.report;
    report.check_targets();
    std::fs::write(&cli.output, serde_json::to_string_pretty(&report)?)
        .with_context(|| format!("writing {}", cli.output.display()))?;
    println!("{}", report.to_markdown());
    eprintln!("results written to {}", cli.output.display());
    if !failed.is_empty() {
        anyhow::bail!("scenarios failed: {}", failed.join(", "));
    }
    Ok(())
}
