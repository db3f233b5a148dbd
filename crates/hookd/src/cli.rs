//! The command line: `hookd serve` and its flags, each with a matching environment variable.
//! This is the top of the program, so errors here are `anyhow` with context for a person to read.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::builder::{BoolishValueParser, RangedU64ValueParser};
use clap::{Args, Parser, Subcommand, value_parser};

use crate::app::{self, AdminTokenSource, Dependencies, RunningServer};
use crate::config::Config;
use crate::http_server::{ConnectionLimits, RESERVED_DESCRIPTORS, connection_cap};
use crate::operator_cli;
use crate::policy::retry::RetrySchedule;
use crate::store::postgres::PostgresStore;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "hookd", version, about = "A webhook delivery server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// How log lines on stderr are written: `text`, or `json` (one object a line).
    #[arg(long, global = true, env = "HOOKD_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
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
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
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
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    database_url: Option<String>,
    /// This node's name: stamped on its PostgreSQL leases and sent in its deliveries'
    /// `User-Agent` (`hookd/<version> (node <id>)`). Random when unset.
    #[arg(long, env = "HOOKD_NODE_ID")]
    node_id: Option<String>,
    /// Admin bearer token. When unset, one is generated on first start and printed once.
    #[arg(long, env = "HOOKD_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// Allow endpoints on loopback and private networks (turns the SSRF guard off).
    #[arg(long, env = "HOOKD_ALLOW_PRIVATE_TARGETS", value_parser = BoolishValueParser::new())]
    allow_private_targets: bool,
    /// Refuse plain-http endpoint URLs (`422` when configured, refused again at delivery).
    #[arg(long, env = "HOOKD_HTTPS_ONLY", value_parser = BoolishValueParser::new())]
    https_only: bool,
    /// Delays between attempts after the first, e.g. `5s,5m,30m,2h,5h,10h,10h`.
    #[arg(long, env = "HOOKD_RETRY_SCHEDULE", default_value_t = RetrySchedule::default())]
    retry_schedule: RetrySchedule,
    /// Largest accepted API request body, in bytes.
    #[arg(long, env = "HOOKD_MAX_BODY_BYTES", default_value_t = 1024 * 1024, value_parser = at_least_one::<usize>())]
    max_body_bytes: usize,
    /// Request body bytes in progress at once, over all requests; a request past it is answered
    /// 503 with `Retry-After` before its body is read.
    #[arg(long, env = "HOOKD_MAX_IN_FLIGHT_BODY_BYTES", default_value_t = 64 * 1024 * 1024, value_parser = at_least_one::<usize>())]
    max_in_flight_body_bytes: usize,
    /// Time a request body may take to arrive after its head (`408` past it).
    #[arg(long, env = "HOOKD_BODY_READ_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    body_read_timeout: Duration,
    /// Time a client may take to send a whole request head, from its first byte; the
    /// connection is closed past it.
    #[arg(long, env = "HOOKD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    header_read_timeout: Duration,
    /// Close a connection that has sent nothing for this long since it opened or since its
    /// previous answer (keep-alive).
    #[arg(long, env = "HOOKD_IDLE_TIMEOUT", default_value = "60s", value_parser = parse_positive_duration)]
    idle_timeout: Duration,
    /// HTTP connections open at once. Default and upper bound: the open-file limit (raised to
    /// its hard limit at start) minus descriptors kept for deliveries and the database.
    #[arg(long, env = "HOOKD_MAX_CONNECTIONS", value_parser = at_least_one::<usize>())]
    max_connections: Option<usize>,
    /// On SIGTERM or Ctrl-C, how long requests and deliveries in progress may take to finish
    /// before hookd exits anyway; a second signal exits at once.
    #[arg(long, env = "HOOKD_SHUTDOWN_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    shutdown_timeout: Duration,
    /// Timeout of one delivery request, in seconds.
    #[arg(long, env = "HOOKD_DELIVERY_TIMEOUT_SECS", default_value_t = 15, value_parser = value_parser!(u64).range(1..))]
    delivery_timeout_secs: u64,
    /// Delivery attempts in flight at once on this node.
    #[arg(long, env = "HOOKD_MAX_IN_FLIGHT", default_value_t = 256, value_parser = at_least_one::<usize>())]
    max_in_flight: usize,
    /// Attempts in flight at once to one endpoint, unless the endpoint sets `maxInFlight`.
    #[arg(long, env = "HOOKD_ENDPOINT_MAX_IN_FLIGHT", default_value_t = 32, value_parser = value_parser!(u32).range(1..))]
    endpoint_max_in_flight: u32,
    /// Disable an endpoint that has failed without a success for this long (e.g. `5d`, `12h`).
    #[arg(long, env = "HOOKD_DISABLE_AFTER", default_value = "5d", value_parser = parse_positive_duration)]
    disable_after: Duration,
    /// Do not send the `svix-*` signature headers (only `webhook-*`).
    #[arg(long, env = "HOOKD_NO_SVIX_HEADERS", value_parser = BoolishValueParser::new())]
    no_svix_headers: bool,
    /// Purge message payloads and attempt response bodies older than this (e.g. `30d`, `12h`);
    /// the message and attempt records are kept.
    #[arg(long, env = "HOOKD_PAYLOAD_RETENTION", default_value = "30d", value_parser = parse_positive_duration)]
    payload_retention: Duration,
    /// Remember an `Idempotency-Key` and its answer this long (e.g. `12h`, `1d`); a repeat
    /// after that runs as a new request, and older records are deleted.
    #[arg(long, env = "HOOKD_IDEMPOTENCY_WINDOW", default_value = "12h", value_parser = parse_positive_duration)]
    idempotency_window: Duration,
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
            delivery_timeout: Duration::from_secs(self.delivery_timeout_secs),
            max_in_flight: self.max_in_flight,
            endpoint_max_in_flight: self.endpoint_max_in_flight,
            disable_after: self.disable_after,
            svix_headers: !self.no_svix_headers,
            payload_retention: self.payload_retention,
            retention_interval: Duration::from_secs(60),
            idempotency_window: self.idempotency_window,
        }
    }
}

/// Why a duration flag (`--disable-after`, `--payload-retention`) was refused.
#[derive(Debug, thiserror::Error)]
pub enum DurationFlagError {
    #[error(
        "{written:?} is not a duration ({reason}); write a number and a unit, as in 90s, 30m, 12h, 5d or 1y"
    )]
    NotADuration {
        written: String,
        reason: humantime::DurationError,
    },
    #[error("{written:?} is zero; the duration must be longer than that")]
    Zero { written: String },
}

/// Parses a duration flag with humantime (`500ms`, `90s`, `30m`, `12h`, `5d`, `2w`, `1y`,
/// `1h 30m`). Zero is refused: every duration flag means "after this long", and zero would
/// disable every endpoint at its first failure or purge every payload at once.
pub fn parse_positive_duration(written: &str) -> Result<Duration, DurationFlagError> {
    let trimmed = written.trim();
    let duration =
        humantime::parse_duration(trimmed).map_err(|reason| DurationFlagError::NotADuration {
            written: trimmed.to_owned(),
            reason,
        })?;
    if duration.is_zero() {
        return Err(DurationFlagError::Zero {
            written: trimmed.to_owned(),
        });
    }
    Ok(duration)
}

/// Why a `--database-url` was refused.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseUrlError {
    #[error(
        "{scheme}:// databases are not supported: hookd keeps its data in SQLite (the default, \
         in --data-dir) or in PostgreSQL (postgres://user:password@host:port/database)"
    )]
    UnsupportedScheme { scheme: String },
    #[error(
        "not a PostgreSQL connection URL ({0}); write postgres://user:password@host:port/database"
    )]
    Unparsable(#[source] tokio_postgres::Error),
}

/// Accepts a PostgreSQL connection string (`postgres://` or `postgresql://` URL, or libpq
/// `key=value` pairs). An empty value stands for "not set", as an empty environment variable does.
pub fn parse_database_url(written: &str) -> Result<String, DatabaseUrlError> {
    if written.is_empty() {
        return Ok(String::new());
    }
    match written.split_once("://") {
        Some(("postgres" | "postgresql", _)) | None => {}
        Some((scheme, _)) => {
            return Err(DatabaseUrlError::UnsupportedScheme {
                scheme: scheme.to_owned(),
            });
        }
    }
    written
        .parse::<tokio_postgres::Config>()
        .map_err(DatabaseUrlError::Unparsable)?;
    Ok(written.to_owned())
}

/// A count flag that must be at least one (a limit of zero would stall delivery or refuse
/// every request).
fn at_least_one<T>() -> RangedU64ValueParser<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
    <T as TryFrom<u64>>::Error: std::error::Error + Send + Sync + 'static,
{
    RangedU64ValueParser::<T>::new().range(1..)
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::init(cli.log_format);
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
        let server = app::start(config.clone(), Dependencies::production())
            .await
            .context("starting hookd")?;
        print!("{}", startup_summary(&config, &server));
        tracing::info!(listen = %server.local_addr(), node_id = server.node_id(), "hookd is ready");
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

/// Below this length an admin token is guessable enough to warn about (a generated one has 38).
const SHORTEST_UNWARNED_ADMIN_TOKEN: usize = 32;

/// What a person starting hookd needs to see first: what runs, where, on which data, how to
/// get in, and what is unsafe. Never a password or a token.
fn startup_summary(config: &Config, server: &RunningServer) -> String {
    let store = match &config.database_url {
        None => format!("SQLite in {}", config.data_dir.display()),
        Some(url) => describe_postgres(url),
    };
    let admin_token = match server.admin_token_source() {
        AdminTokenSource::Configured {
            overrides_stored: false,
        } => "from --admin-token / HOOKD_ADMIN_TOKEN",
        AdminTokenSource::Configured {
            overrides_stored: true,
        } => {
            "from --admin-token / HOOKD_ADMIN_TOKEN, which overrides the token stored on first \
             start (that one is refused while this is set)"
        }
        AdminTokenSource::Stored => "the one generated on first start (only its hash is stored)",
        AdminTokenSource::Generated => "generated now and printed above, only this once",
    };
    let mut summary = format!(
        "hookd {version} listening on http://{listen}\n  \
         store:       {store}\n  \
         node:        {node}\n  \
         admin token: {admin_token}\n",
        version = env!("CARGO_PKG_VERSION"),
        listen = server.local_addr(),
        node = server.node_id(),
    );
    if config.allow_private_targets {
        summary.push_str(
            "  warning: the SSRF guard is off (--allow-private-targets): endpoints may target \
             loopback and private networks\n",
        );
    }
    let token_length = config
        .admin_token
        .as_deref()
        .map(|token| token.chars().count());
    if let Some(length) = token_length.filter(|length| *length < SHORTEST_UNWARNED_ADMIN_TOKEN) {
        summary.push_str(&format!(
            "  warning: the admin token is {length} characters long; use at least \
             {SHORTEST_UNWARNED_ADMIN_TOKEN} random ones\n"
        ));
    }
    summary
}

/// `PostgreSQL database D on host:port as user`, without the password.
fn describe_postgres(url: &str) -> String {
    let Ok(parsed) = url.parse::<tokio_postgres::Config>() else {
        return "PostgreSQL".to_owned();
    };
    let hosts: Vec<String> = parsed
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let host = match host {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = parsed.get_ports().get(index).or(parsed.get_ports().first());
            format!("{host}:{}", port.copied().unwrap_or(5432))
        })
        .collect();
    let user = parsed.get_user().unwrap_or("(default user)");
    let database = parsed.get_dbname().unwrap_or(user);
    format!(
        "PostgreSQL database {database} on {} as {user}",
        hosts.join(",")
    )
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

#[cfg(test)]
mod tests {
    //! The flags as the binary parses them: every case goes through `Cli::try_parse_from`.

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("hookd").chain(args.iter().copied()))
    }

    fn serve_config(args: &[&str]) -> Config {
        let serve_args: Vec<&str> = std::iter::once("serve")
            .chain(args.iter().copied())
            .collect();
        match parse(&serve_args) {
            Ok(Cli {
                command: Command::Serve(serve),
                ..
            }) => serve.into_config(4096),
            Ok(other) => panic!("{args:?} parsed as {other:?}"),
            Err(error) => panic!("{args:?} was refused: {error}"),
        }
    }

    /// The command line is refused with a message that names `flag` and says `says`.
    fn check_refused(args: &[&str], flag: &str, says: &str) {
        let error = match parse(args) {
            Ok(parsed) => panic!("{args:?} was accepted as {parsed:?}"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.contains(flag),
            "{args:?}: {error:?} does not name {flag}"
        );
        assert!(
            error.contains(says),
            "{args:?}: {error:?} does not say {says:?}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_a_message_about_that_flag() {
        let since = "2025-01-01T00:00:00Z";
        let cases: &[(&[&str], &str, &str)] = &[
            (
                &["serve", "--disable-after", "forever"],
                "--disable-after",
                "is not a duration",
            ),
            (
                &["serve", "--payload-retention", "forever"],
                "--payload-retention",
                "is not a duration",
            ),
            (
                &["serve", "--payload-retention", "12"],
                "--payload-retention",
                "is not a duration",
            ),
            (
                &["serve", "--disable-after", "0s"],
                "--disable-after",
                "longer than",
            ),
            (
                &["serve", "--payload-retention", "0d"],
                "--payload-retention",
                "longer than",
            ),
            (
                &["serve", "--max-in-flight", "0"],
                "--max-in-flight",
                "not in 1..",
            ),
            (
                &["serve", "--delivery-timeout-secs", "0"],
                "--delivery-timeout-secs",
                "not in 1..",
            ),
            (
                &["serve", "--endpoint-max-in-flight", "0"],
                "--endpoint-max-in-flight",
                "not in 1..",
            ),
            (
                &["serve", "--max-body-bytes", "0"],
                "--max-body-bytes",
                "not in 1..",
            ),
            (
                &["serve", "--retry-schedule", "5s,soon"],
                "--retry-schedule",
                "retry schedule entry 2",
            ),
            (
                &["serve", "--database-url", "mysql://x"],
                "--database-url",
                "mysql:// databases are not supported",
            ),
            (
                &["migrate", "--database-url", "mysql://x"],
                "--database-url",
                "mysql:// databases are not supported",
            ),
            (
                &["migrate", "--database-url", "postgres://h:notaport/db"],
                "--database-url",
                "not a PostgreSQL connection URL",
            ),
            (
                &[
                    "attempts",
                    "list",
                    "--server",
                    "localhost:8071",
                    "--app",
                    "acme",
                    "--msg",
                    "msg_1",
                ],
                "--server",
                "did you mean http://localhost:8071?",
            ),
            (
                &[
                    "replay",
                    "--server",
                    "localhost:8071",
                    "--app",
                    "acme",
                    "--since",
                    since,
                ],
                "--server",
                "did you mean http://localhost:8071?",
            ),
            (
                &[
                    "replay",
                    "--server",
                    "ftp://localhost",
                    "--app",
                    "acme",
                    "--since",
                    since,
                ],
                "--server",
                "write it as http://host:port",
            ),
        ];
        for (args, flag, says) in cases {
            check_refused(args, flag, says);
        }
    }

    #[test]
    fn durations_take_humantime_units() {
        const DAY: u64 = 24 * 3600;
        let cases = [
            ("500ms", Duration::from_millis(500)),
            ("90s", Duration::from_secs(90)),
            ("12h", Duration::from_secs(12 * 3600)),
            ("1h 30m", Duration::from_secs(5400)),
            ("5d", Duration::from_secs(5 * DAY)),
            ("2w", Duration::from_secs(14 * DAY)),
            // humantime's year is 365.25 days.
            ("1y", Duration::from_secs(365 * DAY + DAY / 4)),
        ];
        for (written, expected) in cases {
            let config = serve_config(&["--disable-after", written]);
            assert_eq!(config.disable_after, expected, "--disable-after {written}");
            let config = serve_config(&["--payload-retention", written]);
            assert_eq!(
                config.payload_retention, expected,
                "--payload-retention {written}"
            );
        }
    }

    #[test]
    fn defaults_and_accepted_values() {
        let config = serve_config(&[]);
        assert_eq!(config.disable_after, Duration::from_secs(5 * 24 * 3600));
        assert_eq!(
            config.payload_retention,
            Duration::from_secs(30 * 24 * 3600)
        );
        assert_eq!(config.retry_schedule, RetrySchedule::default());
        assert_eq!(config.delivery_timeout, Duration::from_secs(15));
        assert!(!config.allow_private_targets);

        let config = serve_config(&[
            "--allow-private-targets",
            "--retry-schedule",
            "5s,5m",
            "--max-in-flight",
            "1",
            "--delivery-timeout-secs",
            "1",
            "--database-url",
            "postgres://hookd:secret@db.internal:5432/hookd",
        ]);
        assert!(config.allow_private_targets);
        assert_eq!(config.retry_schedule.to_string(), "5s,5m");
        assert_eq!(config.max_in_flight, 1);
        assert_eq!(config.delivery_timeout, Duration::from_secs(1));
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://hookd:secret@db.internal:5432/hookd")
        );
    }
}
