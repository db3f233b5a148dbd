//! Logging setup. Logs are structured `tracing` events on stderr, filtered by `RUST_LOG`
//! (default `info`), as text or one JSON object a line (`--log-format`). Text is coloured only
//! when stderr is a terminal and `NO_COLOR` is unset, so files and pipes get no escape codes.
//! Nothing here decides what is logged; modules do, and never log secrets, signatures or
//! payloads. `ErrorChain` is how an error goes into a log field: with every cause. The metrics
//! (`instruments`) are telemetry too: the series hookd records and the registry behind `/metrics`.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub mod instruments;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// Installs the global subscriber once; later calls (as in tests) are ignored.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // A line that cannot be written (the reader of stderr is gone) is dropped. Reporting the
        // failure would `eprintln!` into the same broken pipe, which panics the logging task:
        // a request's connection, or the one that handles SIGTERM.
        .log_internal_errors(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(colour_wanted()).try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Colour only for a person at a terminal; `NO_COLOR` (any non-empty value, see no-color.org)
/// turns it off there too.
fn colour_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty());
    std::io::stderr().is_terminal() && !no_color
}

/// Displays an error followed by its sources, `outer: cause: root cause`, so that a log says
/// why (`database error: db error: ERROR: relation "x" does not exist`), not just what.
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(formatter, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Layered {
        #[error("database error")]
        Outer(#[source] Box<Layered>),
        #[error("db error")]
        Middle(#[source] std::io::Error),
    }

    fn check(error: &(dyn std::error::Error + 'static), expected: &str) {
        assert_eq!(ErrorChain(error).to_string(), expected);
    }

    #[test]
    fn error_chains_show_every_cause() {
        let root = || std::io::Error::other("relation \"x\" does not exist");
        check(&root(), "relation \"x\" does not exist");
        check(
            &Layered::Middle(root()),
            "db error: relation \"x\" does not exist",
        );
        check(
            &Layered::Outer(Box::new(Layered::Middle(root()))),
            "database error: db error: relation \"x\" does not exist",
        );
    }
}
