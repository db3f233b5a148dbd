//! The hookd server under test, run as a child process exactly as a user would run it:
//! `hookd serve` on a free loopback port with a fresh data directory and a known admin token.
//!
//! This module owns the child's life (start, wait until healthy, kill) and reads its resource use
//! from `/proc`. It does not talk to hookd's API beyond the health probe; that is `hookd_api`.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Serialize;
use tempfile::TempDir;
use tokio::process::{Child, Command};

use crate::cpu::CpuMeter;
use crate::pg_schema::PgSchema;

/// The admin token every benchmarked hookd is started with.
pub const ADMIN_TOKEN: &str = "hookd-bench-admin-token";

/// How long hookd may take to answer its health probe after being started.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);

/// How to start hookd: the same for every case, apart from `extra_args`.
#[derive(Debug, Clone)]
pub struct HookdLaunch {
    pub binary: PathBuf,
    /// PostgreSQL server URL; each hookd gets a fresh schema in it and is started with
    /// `--database-url` pointing there. `None` means hookd's default (SQLite in the data dir).
    pub database_url: Option<String>,
    /// The parent of each run's temporary directory; its filesystem is the one measured by `disk`.
    pub work_dir: PathBuf,
    /// `RUST_LOG` for the child. hookd's default is `info`, which logs every accepted message and
    /// every delivery attempt; the log goes to a file in the run's temporary directory.
    pub log_level: String,
}

/// A running hookd. Dropping it kills the process and removes its data directory; `stop` also
/// drops its PostgreSQL schema (a hookd that failed to start leaves its `hookd_bench_*` schema).
pub struct HookdProcess {
    child: Child,
    pid: u32,
    base_url: String,
    run_dir: TempDir,
    /// This hookd's schema when it runs on PostgreSQL.
    schema: Option<PgSchema>,
}

/// What the hookd process has used since it started.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ProcessUsage {
    /// Peak resident set size (`VmHWM`), in MB (10^6 bytes, the unit of the target).
    pub peak_rss_mb: f64,
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: f64,
}

impl HookdProcess {
    /// Starts `hookd serve` with `extra_args` appended and waits until `/api/v1/health` answers.
    /// On PostgreSQL it gets a fresh schema of its own, dropped by `stop`.
    pub async fn start(launch: &HookdLaunch, extra_args: &[String]) -> anyhow::Result<Self> {
        let schema = match &launch.database_url {
            Some(url) => Some(PgSchema::create(url).await?),
            None => None,
        };
        let database_url = schema.as_ref().map(|schema| schema.url.clone());
        Self::spawn(launch, extra_args, database_url, schema).await
    }

    /// Starts one node of several sharing `schema` (`--database-url` with its search path); the
    /// caller drops the schema once every node is stopped.
    pub async fn start_node(
        launch: &HookdLaunch,
        extra_args: &[String],
        schema: &PgSchema,
    ) -> anyhow::Result<Self> {
        Self::spawn(launch, extra_args, Some(schema.url.clone()), None).await
    }

    async fn spawn(
        launch: &HookdLaunch,
        extra_args: &[String],
        database_url: Option<String>,
        schema: Option<PgSchema>,
    ) -> anyhow::Result<Self> {
        let run_dir = tempfile::Builder::new()
            .prefix("hookd-bench-")
            .tempdir_in(&launch.work_dir)
            .with_context(|| {
                format!("creating a run directory in {}", launch.work_dir.display())
            })?;
        let data_dir = run_dir.path().join("data");
        let log_path = run_dir.path().join("hookd.log");
        let log = std::fs::File::create(&log_path).context("creating hookd's log file")?;
        let listen = free_loopback_port().context("finding a free port for hookd")?;

        let mut command = Command::new(&launch.binary);
        command
            .arg("serve")
            .arg("--listen")
            .arg(listen.to_string())
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--allow-private-targets")
            .args(extra_args)
            .env("HOOKD_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", &launch.log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true);
        if let Some(url) = &database_url {
            command.arg("--database-url").arg(url);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", launch.binary.display()))?;
        let pid = child.id().context("hookd exited at once")?;
        let mut process = HookdProcess {
            child,
            pid,
            base_url: format!("http://{listen}"),
            run_dir,
            schema,
        };
        process.wait_until_healthy().await?;
        Ok(process)
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Bytes hookd's data takes: its data directory (SQLite) or its schema (PostgreSQL).
    pub async fn data_bytes(&self) -> anyhow::Result<u64> {
        match &self.schema {
            Some(schema) => schema.size_bytes().await,
            None => Ok(directory_bytes(&self.run_dir.path().join("data"))),
        }
    }

    /// Peak memory and CPU time so far, read from `/proc/<pid>`.
    pub fn usage(&self) -> anyhow::Result<ProcessUsage> {
        process_usage(self.pid)
    }

    /// Starts measuring the CPU this hookd (and the benchmark) spend from now on.
    pub fn cpu_meter(&self) -> anyhow::Result<CpuMeter> {
        CpuMeter::start(Some(self.pid))
    }

    /// Reads the usage one last time, kills the process and drops its PostgreSQL schema.
    pub async fn stop(mut self) -> anyhow::Result<ProcessUsage> {
        let usage = self.usage()?;
        self.child.kill().await.context("killing hookd")?;
        if let Some(schema) = self.schema.take() {
            schema.drop_schema().await?;
        }
        Ok(usage)
    }

    async fn wait_until_healthy(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let url = format!("{}/api/v1/health", self.base_url);
        let deadline = Instant::now() + STARTUP_LIMIT;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().context("checking on hookd")? {
                bail!(
                    "hookd exited during start-up ({status}); its log ends with:\n{}",
                    self.log_tail()
                );
            }
            let probe = client
                .get(&url)
                .timeout(Duration::from_secs(1))
                .send()
                .await;
            if probe.is_ok_and(|response| response.status().is_success()) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!(
            "hookd did not become healthy within {STARTUP_LIMIT:?}; its log ends with:\n{}",
            self.log_tail()
        )
    }

    /// hookd's log lines at `WARN` or `ERROR` since it started, grouped by message (the text
    /// after the level, fields left out), most frequent first.
    pub fn log_problems(&self) -> Vec<(String, u64)> {
        let log =
            std::fs::read_to_string(self.run_dir.path().join("hookd.log")).unwrap_or_default();
        log_problems(&log)
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.run_dir.path().join("hookd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

/// `WARN` and `ERROR` lines of a hookd log (`<time> LEVEL target: message key=value...`),
/// counted by level, target and message; the key=value fields are left out so that repeats group.
pub fn log_problems(log: &str) -> Vec<(String, u64)> {
    let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
    for line in log.lines() {
        let mut words = line.split_whitespace();
        let _time = words.next();
        let Some(level @ ("WARN" | "ERROR")) = words.next() else {
            continue;
        };
        let message: Vec<&str> = words.take_while(|word| !word.contains('=')).collect();
        *counts
            .entry(format!("{level} {}", message.join(" ")))
            .or_default() += 1;
    }
    let mut problems: Vec<(String, u64)> = counts.into_iter().collect();
    problems.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    problems
}

/// Total size of the files directly in `directory` (hookd's data directory is flat).
fn directory_bytes(directory: &Path) -> u64 {
    std::fs::read_dir(directory)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|entry| entry.metadata().ok())
                .filter(|metadata| metadata.is_file())
                .map(|metadata| metadata.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Peak RSS and CPU seconds of any process, including this one (for the client's own cost).
pub fn process_usage(pid: u32) -> anyhow::Result<ProcessUsage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let peak_rss_kib = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| {
            value
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .context("no VmHWM line in /proc/<pid>/status")?;
    Ok(ProcessUsage {
        peak_rss_mb: peak_rss_kib * 1024.0 / 1e6,
        cpu_seconds: crate::cpu::cpu_seconds(pid)?,
    })
}

/// A loopback port that was free a moment ago (bound, read, released).
pub fn free_loopback_port() -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    listener.local_addr()
}

/// Makes sure the hookd binary exists, building it with cargo when it is missing.
pub fn ensure_hookd_binary(binary: &Path) -> anyhow::Result<()> {
    if binary.is_file() {
        return Ok(());
    }
    eprintln!(
        "{} not found: running `cargo build --release -p hookd`",
        binary.display()
    );
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["build", "--release", "-p", "hookd"])
        .status()
        .context("running cargo build")?;
    if !status.success() {
        bail!("`cargo build --release -p hookd` failed ({status})");
    }
    if !binary.is_file() {
        bail!(
            "{} still missing after the build; pass --hookd-bin",
            binary.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_and_errors_are_grouped_without_their_fields() {
        let log = "\
2026-12-06T22:03:49.9Z  WARN hookd::app: HOOKD_ENCRYPTION_KEY is not set: plain text plain_values=0
2026-12-06T22:03:50.1Z  INFO hookd::cli: hookd is ready listen=127.0.0.1:1
2026-12-06T22:03:51.8Z ERROR hookd::engine::leases: renewing leases timed out count=50
2026-12-06T22:03:56.8Z ERROR hookd::engine::leases: renewing leases timed out count=475
";
        assert_eq!(
            log_problems(log),
            [
                (
                    "ERROR hookd::engine::leases: renewing leases timed out".to_owned(),
                    2
                ),
                (
                    "WARN hookd::app: HOOKD_ENCRYPTION_KEY is not set: plain text".to_owned(),
                    1
                ),
            ]
        );
    }
}
