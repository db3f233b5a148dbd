//! Logging setup. Logs are structured `tracing` events on stderr, filtered by `RUST_LOG`
//! (default `info`), as text or one JSON object a line (`--log-format`). Text is coloured only
//! when stderr is a terminal and `NO_COLOR` is unset, so files and pipes get no escape codes.
//! Nothing here decides what is logged; modules do, and never log secrets, signatures or
//! payloads. `ErrorChain` is how an error goes into a log field: with every cause. The metrics
//! (`instruments`) are telemetry too: the series hookd records and the registry behind `/metrics`.
//! So are spans: with `--otlp-endpoint`, `otlp` exports them (`Telemetry::shutdown` flushes
//! what is still batched); without it they only give log lines their context.

use std::fmt;
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

pub mod instruments;
pub mod otlp;

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

/// What `init` set up that must be ended: the span exporter, if any.
#[must_use = "call shutdown() at exit, or batched spans are lost"]
pub struct Telemetry {
    tracer_provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still batched and stops the exporter (at most its export timeout).
    /// Call it outside the runtime's `block_on` but before the runtime is dropped: the
    /// exporter's task runs on the runtime's workers.
    pub fn shutdown(self) {
        if let Some(provider) = self.tracer_provider
            && let Err(error) = provider.shutdown()
        {
            tracing::warn!(error = %ErrorChain(&error), "could not flush the spans to the OTLP endpoint");
        }
    }
}

/// Installs the global subscriber once; later calls (as in tests) are ignored. Log lines go to
/// stderr; with `otlp_endpoint`, spans are also exported there, which needs a tokio runtime
/// (entered by the caller).
pub fn init(
    format: LogFormat,
    otlp_endpoint: Option<&otlp::OtlpEndpoint>,
) -> Result<Telemetry, otlp::OtlpSetupError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let tracer_provider = otlp_endpoint.map(otlp::tracer_provider).transpose()?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // A line that cannot be written (the reader of stderr is gone) is dropped. Reporting the
        // failure would `eprintln!` into the same broken pipe, which panics the logging task:
        // a request's connection, or the one that handles SIGTERM.
        .log_internal_errors(false);
    let fmt = match format {
        LogFormat::Text => fmt.with_ansi(colour_wanted()).boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    // Each layer has its own filter: `RUST_LOG` chooses log lines, and the export always takes
    // hookd's own spans at `info` (never the exporter's HTTP client's, which would feed itself).
    let exported = tracer_provider.as_ref().map(|provider| {
        otlp::layer(provider).with_filter(
            tracing_subscriber::filter::Targets::new()
                .with_target(env!("CARGO_CRATE_NAME"), tracing::Level::INFO),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(exported)
        .with(fmt.with_filter(filter))
        .try_init();
    Ok(Telemetry { tracer_provider })
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
