//! The command line: `hookd serve` and its flags, each with a matching environment variable.
//! This is the top of the program, so errors here are `anyhow` with context for a person to read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{self, Dependencies};
use crate::config::Config;
use crate::delivery::retry::RetrySchedule;

#[derive(Debug, Parser)]
#[command(name = "hookd", version, about = "A webhook delivery server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API and the delivery engine.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOOKD_LISTEN", default_value = "127.0.0.1:8071")]
    listen: SocketAddr,
    /// Directory for the SQLite database (created if missing).
    #[arg(long, env = "HOOKD_DATA_DIR", default_value = "./hookd-data")]
    data_dir: PathBuf,
    /// Admin bearer token. When unset, one is generated on first start and printed once.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Allow endpoints on loopback and private networks (turns the SSRF guard off).
    #[arg(long, env = "HOOKD_ALLOW_PRIVATE_TARGETS")]
    allow_private_targets: bool,
    /// Delays between attempts after the first, e.g. `5s,5m,30m,2h,5h,10h,10h`.
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE", default_value_t = RetrySchedule::default())]
    retry_schedule: RetrySchedule,
    /// Largest accepted API request body, in bytes.
    #[arg(long, env = "HOOKD_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    max_body_bytes: usize,
    /// Timeout of one delivery request, in seconds.
    #[arg(long, env = "HOOKD_DELIVERY_TIMEOUT_SECS", default_value_t = 15)]
    delivery_timeout_secs: u64,
    /// Delivery attempts in flight at once on this node.
    #[arg(long, env = "HOOKD_MAX_IN_FLIGHT", default_value_t = 256)]
    max_in_flight: usize,
    /// Do not send the `svix-*` signature headers (only `webhook-*`).
    #[arg(long, env = "HOOKD_NO_SVIX_HEADERS")]
    no_svix_headers: bool,
}

impl ServeArgs {
    fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            data_dir: self.data_dir,
            admin_token: self.admin_token.filter(|token| !token.is_empty()),
            allow_private_targets: self.allow_private_targets,
            retry_schedule: self.retry_schedule,
            max_body_bytes: self.max_body_bytes,
            delivery_timeout: Duration::from_secs(self.delivery_timeout_secs.max(1)),
            max_in_flight: self.max_in_flight.max(1),
            svix_headers: !self.no_svix_headers,
        }
    }
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let result = match cli.command {
        Command::Serve(args) => serve(args.into_config()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hookd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let server = app::start(config, Dependencies::production())
            .await
            .context("starting hookd")?;
        tracing::info!(listen = %server.local_addr(), "hookd is ready");
        let shutdown = server.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutting down");
            shutdown.cancel();
        });
        server.wait().await
    })
}

async fn wait_for_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
