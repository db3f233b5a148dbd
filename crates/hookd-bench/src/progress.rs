//! The progress line: once a second, on stderr, what is running, how far it has got and at what
//! rate. Stdout is kept for the final table so it can be piped into a file.

use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

/// Prints progress until dropped.
pub struct Progress {
    printer: JoinHandle<()>,
}

impl Progress {
    /// Starts printing `label: done/total (rate/s)`, where `done` is read from `count` each second.
    pub fn start(
        label: impl Into<String>,
        total: u64,
        count: impl Fn() -> u64 + Send + 'static,
    ) -> Self {
        let label = label.into();
        let printer = tokio::spawn(async move {
            let started = Instant::now();
            let mut ticker = tokio::time::interval(Duration::from_secs(1));
            ticker.tick().await;
            let mut previous = count();
            // Bounded: a phase that outlives a day has bigger problems than its progress line.
            for _ in 0..86_400 {
                ticker.tick().await;
                let done = count();
                eprintln!(
                    "  {label}: {done}/{total}  {:>8.0}/s now  {:>8.0}/s average  {:>5.0} s",
                    done.saturating_sub(previous) as f64,
                    done as f64 / started.elapsed().as_secs_f64(),
                    started.elapsed().as_secs_f64(),
                );
                previous = done;
            }
        });
        Progress { printer }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.printer.abort();
    }
}
