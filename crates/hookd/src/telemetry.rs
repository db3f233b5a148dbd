//! Logging setup. Logs are structured `tracing` events on stderr, filtered by `RUST_LOG`
//! (default `info`). Nothing here decides what is logged; modules do, and never log secrets,
//! signatures or payloads.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls (as in tests) are ignored.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
