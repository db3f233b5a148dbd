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
use crate::http_server::{ConnectionLimits, RESERVED_DESCRIPTORS, connection_cap};
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
    /// Request body bytes in progress at once, over all requests; a request past it is answered
    /// 503 with `Retry-After` before its body is read.
    #[arg(long, env = "HOOKD_MAX_IN_FLIGHT_BODY_BYTES", default_value_t = 64 * 1024 * 1024)]
    max_in_flight_body_bytes: usize,
    /// Time a request body may take to arrive after its head (`408` past it).
    #[arg(long, env = "HOOKD_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    body_read_timeout: Duration,
    /// Time a client may take to send a whole request head, from its first byte; the
    /// connection is closed past it.
    #[arg(long, env = "HOOKD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_timeout)]
    header_read_timeout: Duration,
    /// Close a connection that has sent nothing for this long since it opened or since its
    /// previous answer (keep-alive).
    #[arg(long, env = "HOOKD_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_timeout)]
    idle_timeout: Duration,
    /// HTTP connections open at once. Default and upper bound: the open-file limit (raised to
    /// its hard limit at start) minus descriptors kept for deliveries and the database.
    #[arg(long, env = "HOOKD_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// On SIGTERM or Ctrl-C, how long requests and deliveries in progress may take to finish
    /// before hookd exits anyway; a second signal exits at once.
    #[arg(long, env = "HOOKD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_timeout)]
    shutdown_timeout: Duration,
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
}

impl ServeArgs {
    /// The configuration, with the connection cap kept below `descriptor_limit`.
    fn into_config(self, descriptor_limit: u64) -> Config {
        let reserved_descriptors = RESERVED_DESCRIPTORS + self.max_in_flight;
        let max_connections =
            connection_cap(descriptor_limit, self.max_connections, reserved_descriptors);
        if self
            .max_connections
            .is_some_and(|requested| requested > max_connections)
        {
            tracing::warn!(
                requested = self.max_connections,
                max_connections,
                descriptor_limit,
                "--max-connections lowered to stay below the open-file limit"
            );
        }
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
            max_in_flight_body_bytes: self.max_in_flight_body_bytes,
            body_read_timeout: self.body_read_timeout,
            connection_limits: ConnectionLimits {
                header_read_timeout: self.header_read_timeout,
                idle_timeout: self.idle_timeout,
                max_connections,
                shutdown_timeout: self.shutdown_timeout,
            },
            delivery_timeout: Duration::from_secs(self.delivery_timeout_secs.max(1)),
            max_in_flight: self.max_in_flight.max(1),
            endpoint_max_in_flight: self.endpoint_max_in_flight.max(1),
            disable_after: self.disable_after,
            svix_headers: !self.no_svix_headers,
            payload_retention: self.payload_retention,
            retention_interval: Duration::from_secs(60),
        }
    }
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init();
    let result = match cli.command {
        Command::Serve(args) => serve(args),
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

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let descriptor_limit = raise_descriptor_limit();
    let config = args.into_config(descriptor_limit);
    let shutdown_timeout = config.connection_limits.shutdown_timeout;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let mut signals = ShutdownSignals::install().context("installing signal handlers")?;
        let server = app::start(config, Dependencies::production())
            .await
            .context("starting hookd")?;
        tracing::info!(listen = %server.local_addr(), "hookd is ready");
        let shutdown = server.shutdown_token();
        tokio::spawn(async move {
            signals.next().await;
            tracing::info!(
                shutdown_timeout_secs = shutdown_timeout.as_secs_f64(),
                "shutting down: no new connections; a second SIGTERM or Ctrl-C exits at once"
            );
            shutdown.cancel();
            signals.next().await;
            tracing::warn!("second shutdown signal: exiting at once");
            std::process::exit(1);
        });
        server.wait().await
    })
}

/// Raises the soft open-file limit to the hard limit, since every connection costs a
/// descriptor, and returns the limit in force.
fn raise_descriptor_limit() -> u64 {
    let (soft_before, _hard) = rlimit::Resource::NOFILE.get().unwrap_or((1024, 1024));
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(soft_after) => {
            if soft_after != soft_before {
                tracing::info!(soft_before, soft_after, "raised the open-file limit");
            }
            soft_after
        }
        Err(error) => {
            tracing::warn!(%error, soft_before, "could not raise the open-file limit");
            soft_before
        }
    }
}

/// SIGTERM and SIGINT (Ctrl-C), installed once so that a second signal is never missed.
struct ShutdownSignals {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(ShutdownSignals {
                terminate: signal(SignalKind::terminate())?,
                interrupt: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        Ok(ShutdownSignals {})
    }

    /// Waits for the next SIGTERM or SIGINT.
    async fn next(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.terminate.recv() => {}
            _ = self.interrupt.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// A duration flag that must not be zero: a zero timeout would close every connection at once.
fn parse_timeout(written: &str) -> Result<Duration, String> {
    match parse_duration(written) {
        Ok(duration) if duration.is_zero() => Err("a timeout must be longer than zero".to_owned()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(error.to_string()),
    }
}
