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
use crate::delivery::retry::{RetrySchedule, parse_duration};
use crate::operator_cli;
use crate::store::postgres::PostgresStore;

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
    /// Apply pending PostgreSQL schema migrations and exit (`serve` also applies them on start).
    Migrate(MigrateArgs),
    /// Inspect delivery attempts through a running hookd's API.
    Attempts {
        #[command(subcommand)]
        command: operator_cli::AttemptsCommand,
    },
    /// Replay deliveries by filter through a running hookd's API, with progress.
    Replay(operator_cli::ReplayArgs),
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// The PostgreSQL database to migrate, `postgres://user@host:port/database`.
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true)]
    database_url: String,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOOKD_LISTEN", default_value = "127.0.0.1:8071")]
    listen: SocketAddr,
    /// Directory for the SQLite database (created if missing).
    #[arg(long, env = "HOOKD_DATA_DIR", default_value = "./hookd-data")]
    data_dir: PathBuf,
    /// Keep everything in this PostgreSQL database (`postgres://...`) instead of SQLite in
    /// --data-dir; any number of hookd nodes may share it.
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// This node's name: stamped on its PostgreSQL leases and sent in its deliveries'
    /// `User-Agent` (`hookd/<version> (node <id>)`). Random when unset.
    #[arg(long, env = "HOOKD_NODE_ID")]
    node_id: Option<String>,
    /// Admin bearer token. When unset, one is generated on first start and printed once.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Allow endpoints on loopback and private networks (turns the SSRF guard off).
    #[arg(long, env = "HOOKD_ALLOW_PRIVATE_TARGETS")]
    allow_private_targets: bool,
    /// Refuse plain-http endpoint URLs (`422` when configured, refused again at delivery).
    #[arg(long, env = "HOOKD_HTTPS_ONLY")]
    https_only: bool,
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
    /// Attempts in flight at once to one endpoint, unless the endpoint sets `maxInFlight`.
    #[arg(long, env = "HOOKD_ENDPOINT_MAX_IN_FLIGHT", default_value_t = 32)]
    endpoint_max_in_flight: u32,
    /// Disable an endpoint that has failed without a success for this long (e.g. `5d`, `12h`).
    #[arg(long, env = "HOOKD_DISABLE_AFTER", default_value = "5d", value_parser = parse_duration)]
    disable_after: Duration,
    /// Do not send the `svix-*` signature headers (only `webhook-*`).
    #[arg(long, env = "HOOKD_NO_SVIX_HEADERS")]
    no_svix_headers: bool,
    /// Purge message payloads and attempt response bodies older than this (e.g. `30d`, `12h`);
    /// the message and attempt records are kept.
    #[arg(long, env = "HOOKD_PAYLOAD_RETENTION", default_value = "30d", value_parser = parse_duration)]
    payload_retention: Duration,
    /// Remember an `Idempotency-Key` and its answer this long (e.g. `12h`, `1d`); a repeat
    /// after that runs as a new request, and older records are deleted.
    #[arg(long, env = "HOOKD_IDEMPOTENCY_WINDOW", default_value = "12h", value_parser = parse_duration)]
    idempotency_window: Duration,
}

impl ServeArgs {
    fn into_config(self) -> Config {
        Config {
            listen: self.listen,
            data_dir: self.data_dir,
            database_url: self.database_url.filter(|url| !url.is_empty()),
            node_id: self.node_id.filter(|node| !node.is_empty()),
            admin_token: self.admin_token.filter(|token| !token.is_empty()),
            allow_private_targets: self.allow_private_targets,
            https_only: self.https_only,
            retry_schedule: self.retry_schedule,
            max_body_bytes: self.max_body_bytes,
            delivery_timeout: Duration::from_secs(self.delivery_timeout_secs.max(1)),
            max_in_flight: self.max_in_flight.max(1),
            endpoint_max_in_flight: self.endpoint_max_in_flight.max(1),
            disable_after: self.disable_after,
            svix_headers: !self.no_svix_headers,
            payload_retention: self.payload_retention,
            retention_interval: Duration::from_secs(60),
            idempotency_window: self.idempotency_window,
        }
    }
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let result = match cli.command {
        Command::Serve(args) => serve(args.into_config()),
        Command::Migrate(args) => migrate(&args.database_url),
        Command::Attempts { command } => operator_cli::attempts(command),
        Command::Replay(args) => operator_cli::replay(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("hookd: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn migrate(database_url: &str) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let applied = runtime
        .block_on(PostgresStore::migrate(database_url))
        .context("migrating the PostgreSQL database")?;
    if applied.is_empty() {
        println!("the database schema is up to date");
    } else {
        println!("applied schema versions {applied:?}");
    }
    Ok(())
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
