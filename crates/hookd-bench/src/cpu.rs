//! CPU time of processes, read from `/proc/<pid>/stat`, and a meter over one measured phase.
//!
//! The benchmark's client and receiver run on the same CPUs as hookd, so a rate alone mixes
//! hookd's cost with the benchmark's own. `CpuMeter` reads hookd's `utime + stime` (and this
//! process's, the client's and receiver's) when a phase starts and when it ends: the difference
//! is what each side spent on the phase's messages, start-up and setup left out.

use std::time::Instant;

use anyhow::Context;
use serde::Serialize;

/// `utime + stime` in clock ticks, from the text of `/proc/<pid>/stat`.
///
/// The command name (field 2) is in parentheses and may contain spaces and parentheses, so the
/// fields are counted from the last `)`: after it come field 3 (state) onwards, which puts utime
/// and stime (fields 14 and 15) at indices 11 and 12.
pub fn parse_stat_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/<pid>/stat: no `)` after the command name")?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |index: usize, name: &str| -> anyhow::Result<u64> {
        fields
            .get(index)
            .and_then(|field| field.parse::<u64>().ok())
            .with_context(|| format!("malformed /proc/<pid>/stat: no {name}"))
    };
    Ok(ticks(11, "utime")? + ticks(12, "stime")?)
}

/// User plus system CPU seconds `pid` has used since it started.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    Ok(parse_stat_cpu_ticks(&stat)? as f64 / clock_ticks_per_second())
}

/// The kernel's `USER_HZ`. Asking `getconf` keeps this crate free of `unsafe` FFI; it is 100 on
/// every common Linux configuration, which is the fallback.
pub fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|ticks| *ticks > 0.0)
            .unwrap_or(100.0)
    })
}

/// CPU spent during one phase of a case, by hookd and by the benchmark process.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PhaseCpu {
    /// hookd's `utime + stime` over the phase; `None` where no hookd ran (the ceiling).
    pub hookd_seconds: Option<f64>,
    /// This process's (clients and receiver) over the same phase.
    pub bench_seconds: f64,
    pub wall_seconds: f64,
}

impl PhaseCpu {
    /// hookd's CPU microseconds per counted unit (message, delivery or request).
    pub fn hookd_us_per(&self, count: u64) -> Option<f64> {
        let seconds = self.hookd_seconds?;
        (count > 0).then(|| seconds * 1e6 / count as f64)
    }

    /// The benchmark's own CPU microseconds per counted unit.
    pub fn bench_us_per(&self, count: u64) -> Option<f64> {
        (count > 0).then(|| self.bench_seconds * 1e6 / count as f64)
    }
}

/// Started when a phase starts; `read` gives the CPU each side used since.
pub struct CpuMeter {
    hookd_pid: Option<u32>,
    hookd_start: f64,
    bench_start: f64,
    started: Instant,
}

impl CpuMeter {
    /// Starts measuring hookd `hookd_pid` (if any) and this process.
    pub fn start(hookd_pid: Option<u32>) -> anyhow::Result<Self> {
        Ok(CpuMeter {
            hookd_pid,
            hookd_start: hookd_pid.map(cpu_seconds).transpose()?.unwrap_or(0.0),
            bench_start: cpu_seconds(std::process::id())?,
            started: Instant::now(),
        })
    }

    /// The CPU used since `start`; hookd must still be running.
    pub fn read(&self) -> anyhow::Result<PhaseCpu> {
        let hookd_seconds = match self.hookd_pid {
            Some(pid) => Some(cpu_seconds(pid)? - self.hookd_start),
            None => None,
        };
        Ok(PhaseCpu {
            hookd_seconds,
            bench_seconds: cpu_seconds(std::process::id())? - self.bench_start,
            wall_seconds: self.started.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real line of `/proc/<pid>/stat` (utime 1234, stime 567), with a command name that
    /// holds spaces and parentheses as thread names may.
    const STAT: &str = "4242 (tokio (rt) worker) S 1 4242 4242 0 -1 4194560 2951 0 0 0 1234 567 \
                        0 0 20 0 9 0 118 1127460864 5210 18446744073709551615 1 1 0 0 0 0 0 4096 \
                        17664 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn utime_and_stime_are_counted_after_the_command_name() {
        assert_eq!(parse_stat_cpu_ticks(STAT).unwrap(), 1234 + 567);
        let plain = STAT.replace("(tokio (rt) worker)", "(hookd)");
        assert_eq!(parse_stat_cpu_ticks(&plain).unwrap(), 1801);
    }

    #[test]
    fn a_malformed_stat_is_an_error_not_zero() {
        assert!(parse_stat_cpu_ticks("").is_err());
        assert!(parse_stat_cpu_ticks("4242 hookd S 1 2 3").is_err());
        assert!(parse_stat_cpu_ticks("4242 (hookd) S 1 2 3 4 5 6 7 8 9 10").is_err());
        let garbled = STAT.replace(" 1234 ", " x ");
        assert!(parse_stat_cpu_ticks(&garbled).is_err());
    }

    #[test]
    fn this_process_cpu_time_is_read_and_grows() {
        let meter = CpuMeter::start(Some(std::process::id())).unwrap();
        let mut spin = 0u64;
        let started = Instant::now();
        while started.elapsed().as_millis() < 100 {
            spin = spin.wrapping_add(std::hint::black_box(1));
        }
        let phase = meter.read().unwrap();
        assert!(spin > 0);
        let hookd = phase.hookd_seconds.unwrap();
        assert!(hookd > 0.0 && hookd < 5.0, "{phase:?}");
        assert!(phase.bench_seconds > 0.0, "{phase:?}");
        assert_eq!(phase.hookd_us_per(0), None);
        assert!(phase.hookd_us_per(1000).unwrap() > 0.0);
    }
}
