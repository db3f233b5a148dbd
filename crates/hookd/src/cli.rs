//! The command line: `hookd serve` and its flags, each with a matching environment variable.
//! This is the top of the program, so errors here are `anyhow` with context for a person to read.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::app::{self, AdminTokenSource, Dependencies, RunningServer};
use crate::config::{Config, ServeArgs, parse_database_url};
use crate::store::postgres::PostgresStore;
use crate::telemetry::ErrorChain;
use crate::telemetry::LogFormat;
use crate::{environment_cli, listen_cli, operator_cli, rotate_key_cli};

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
    // Boxed: its flags outweigh every other command's many times over.
    Serve(Box<ServeArgs>),
    /// Apply pending PostgreSQL schema migrations and exit (`serve` also applies them on start).
    Migrate(MigrateArgs),
    /// Inspect delivery attempts through a running hookd's API.
    Attempts {
        #[command(subcommand)]
        command: operator_cli::AttemptsCommand,
    },
    /// Replay deliveries by filter through a running hookd's API, with progress.
    Replay(operator_cli::ReplayArgs),
    /// Re-seal every stored secret under HOOKD_ENCRYPTION_KEY (online, in batches), and say
    /// how many still need an old key.
    RotateKey(rotate_key_cli::RotateKeyArgs),
    /// Forward an application's or an inbound source's messages to a local URL, as they arrive.
    Listen(listen_cli::ListenArgs),
    /// Write every event type, application and endpoint (with its secret) of a running
    /// hookd to stdout as JSON.
    Export(environment_cli::ExportArgs),
    /// Create or update what an export file holds in a running hookd; all or nothing.
    Import(environment_cli::ImportArgs),
}

#[derive(Debug, Args)]
struct MigrateArgs {
    /// The PostgreSQL database to migrate, `postgres://user@host:port/database`.
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    database_url: String,
}

/// Parses the command line and runs the chosen command.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Serve(_)) {
        // Only `serve` exports spans (it sets up its own, inside its runtime); the other
        // commands only log to stderr, which cannot fail to set up.
        let _logs_only = crate::telemetry::init(cli.log_format, None);
    }
    let result = match cli.command {
        Command::Serve(args) => serve(*args, cli.log_format),
        Command::Migrate(args) => migrate(&args.database_url),
        Command::Attempts { command } => operator_cli::attempts(command),
        Command::Replay(args) => operator_cli::replay(args),
        Command::RotateKey(args) => rotate_key_cli::rotate_key(args),
        Command::Listen(args) => listen_cli::listen(args),
        Command::Export(args) => environment_cli::export(args),
        Command::Import(args) => environment_cli::import(args),
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

fn serve(args: ServeArgs, log_format: LogFormat) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // The span exporter's batch task runs on the runtime, so logging starts inside it.
    let telemetry = {
        let _entered = runtime.enter();
        crate::telemetry::init(log_format, args.otlp_endpoint())
            .context("starting the OTLP span export")?
    };
    let descriptor_limit = raise_descriptor_limit();
    let config = args.into_config(descriptor_limit);
    let shutdown_timeout = config.connection_limits.shutdown_timeout;
    let served = runtime.block_on(async {
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
    });
    // After the server has stopped, so the spans of its last requests and attempts are in.
    telemetry.shutdown();
    served
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
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let mut summary = format!(
        "hookd {version} listening on {scheme}://{listen}\n  \
         store:       {store}\n  \
         node:        {node}\n  \
         admin token: {admin_token}\n",
        version = env!("CARGO_PKG_VERSION"),
        listen = server.local_addr(),
        node = server.node_id(),
    );
    if let Some(tls) = &config.tls {
        summary.push_str(&format!(
            "  tls:         certificate {}, key {} (reloaded when they change, or on SIGHUP)\n",
            tls.cert_path.display(),
            tls.key_path.display()
        ));
    }
    if let Some(endpoint) = &config.otlp_endpoint {
        let mut shown = endpoint.traces_url().clone();
        // A collector's URL may carry credentials; the summary never shows them.
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        summary.push_str(&format!("  traces:      exported over OTLP to {shown}\n"));
    }
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
            tracing::warn!(error = %ErrorChain(&error), soft_before, "could not raise the open-file limit");
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

    use std::time::Duration;

    use super::*;
    use crate::policy::retry::RetrySchedule;

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
