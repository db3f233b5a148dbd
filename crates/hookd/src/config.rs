//! Server configuration: the flags of `hookd serve` (each with its environment variable) and the
//! one `Config` value they parse into, passed explicitly to `app::start`. Every default is written
//! once, in the flag definitions below; tests build their `Config` through the same parser
//! (`Config::from_serve_flags`). No other module reads the environment (but the OpenTelemetry
//! SDK behind `--otlp-endpoint` reads its own `OTEL_*` variables).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, FromArgMatches, value_parser};

mod encryption_keys;
mod portal;
mod values;
pub use encryption_keys::EncryptionKeys;
pub(crate) use values::at_least_one;
pub use values::{
    DatabaseUrlError, DurationFlagError, parse_database_url, parse_positive_duration,
};

use crate::api::rate_limit::ApiRateLimit;
use crate::http_server::tls::TlsFiles;
use crate::http_server::{ConnectionLimits, RESERVED_DESCRIPTORS, connection_cap};
use crate::policy::retry::RetrySchedule;
use crate::telemetry::otlp::OtlpEndpoint;

/// Everything `hookd serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Where the SQLite database lives.
    pub data_dir: PathBuf,
    /// A `postgres://` URL: keep everything in PostgreSQL, shared with other hookd nodes,
    /// instead of SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// The keys that seal secrets at rest (`HOOKD_ENCRYPTION_KEY`, `HOOKD_ENCRYPTION_OLD_KEYS`).
    pub encryption: EncryptionKeys,
    /// This node's name in a PostgreSQL deployment: stamped on the leases it takes and sent in
    /// its deliveries' `User-Agent`. `None` picks a random one at start.
    pub node_id: Option<String>,
    /// The admin bearer token; when `None`, one is generated on first start and printed once.
    pub admin_token: Option<String>,
    /// Turns the SSRF guard off: endpoints may target loopback and private networks.
    pub allow_private_targets: bool,
    /// Refuse plain-http endpoint URLs, at configuration and again at delivery.
    pub https_only: bool,
    /// Delays between attempts after the first one.
    pub retry_schedule: RetrySchedule,
    /// Largest accepted API request body, in bytes.
    pub max_body_bytes: usize,
    /// Request body bytes in progress at once, over all requests; past it, 503 and `Retry-After`.
    pub max_in_flight_body_bytes: usize,
    /// Time from a request head to the end of its body; past it, 408.
    pub body_read_timeout: Duration,
    /// Connection cap, timeouts and the shutdown deadline of the HTTP server.
    pub connection_limits: ConnectionLimits,
    /// Timeout of one delivery request, connection included.
    pub delivery_timeout: Duration,
    /// Attempts in flight at once on this node.
    pub max_in_flight: usize,
    /// Attempts in flight at once to one endpoint, unless the endpoint sets `maxInFlight`.
    pub endpoint_max_in_flight: u32,
    /// An endpoint that has failed without a success for this long is disabled.
    pub disable_after: Duration,
    /// Also sign with `svix-*` headers, for receivers that use Svix's verification libraries.
    pub svix_headers: bool,
    /// Message payloads and attempt response bodies older than this are purged.
    pub payload_retention: Duration,
    /// Time between retention sweeps.
    pub retention_interval: Duration,
    /// How long an `Idempotency-Key` and its answer are remembered (Svix keeps them 12 h);
    /// older records are forgotten and deleted by the retention sweep.
    pub idempotency_window: Duration,
    /// hookd's URL as webhook providers reach it, the base of every source's `ingestUrl`.
    pub public_url: Option<String>,
    /// A dashboard session unused for this long ends (`--dashboard-idle-timeout`).
    pub dashboard_idle_timeout: Duration,
    /// A dashboard session ends this long after its login, however busy
    /// (`--dashboard-session-lifetime`).
    pub dashboard_session_lifetime: Duration,
    /// The bearer token `/metrics` requires; `None` leaves it open.
    pub metrics_token: Option<String>,
    /// Where spans are exported over OTLP/HTTP (`--otlp-endpoint`); `None` exports nothing.
    pub otlp_endpoint: Option<OtlpEndpoint>,
    /// Requests per second (and burst) each API token may make; `None` = no limit.
    pub api_rate_limit: Option<ApiRateLimit>,
    /// Readiness fails when the delivery loop has not gone round for this long.
    pub engine_stall_timeout: Duration,
    /// Rejected inbound requests each source records a minute; past it they are answered
    /// but not stored.
    pub inbound_rejected_log_per_minute: u32,
    /// The app portal's frame ancestors and brand (`--portal-*`).
    pub portal: crate::domain::portal::PortalSettings,
}

impl Config {
    /// The configuration `hookd serve` would run with given `flags` (without the program and
    /// command names), with the connection cap kept below `descriptor_limit`. The environment
    /// is not read: what is not in `flags` takes the documented default.
    pub fn from_serve_flags<I, T>(flags: I, descriptor_limit: u64) -> Result<Config, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let command = ServeArgs::augment_args(clap::Command::new("hookd serve"))
            .mut_args(|flag| flag.env(None));
        let matches = command.try_get_matches_from(
            std::iter::once(OsString::from("hookd serve")).chain(flags.into_iter().map(Into::into)),
        )?;
        Ok(ServeArgs::from_arg_matches(&matches)?.into_config(descriptor_limit))
    }
}

/// The flags of `hookd serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "HOOKD_LISTEN", default_value = "127.0.0.1:8071")]
    listen: SocketAddr,
    /// Serve HTTPS with this PEM certificate chain (the server's certificate first); needs
    /// --tls-key. Without both, hookd serves plain HTTP (for a proxy that terminates TLS).
    #[arg(
        long,
        env = "HOOKD_TLS_CERT",
        value_name = "PATH",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,
    /// The PEM private key (PKCS#8, RSA or EC) of --tls-cert.
    #[arg(
        long,
        env = "HOOKD_TLS_KEY",
        value_name = "PATH",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
    /// How often the certificate and key files are checked for changes; a changed pair is
    /// loaded for new connections without a restart (SIGHUP reloads at once).
    #[arg(long, env = "HOOKD_TLS_RELOAD_INTERVAL", default_value = "5s", value_parser = parse_positive_duration)]
    tls_reload_interval: Duration,
    /// Directory for the SQLite database (created if missing).
    #[arg(long, env = "HOOKD_DATA_DIR", default_value = "./hookd-data")]
    data_dir: PathBuf,
    /// Keep everything in this PostgreSQL database (`postgres://...`) instead of SQLite in
    /// --data-dir; any number of hookd nodes may share it.
    #[arg(long, env = "HOOKD_DATABASE_URL", hide_env_values = true, value_parser = parse_database_url)]
    database_url: Option<String>,
    #[command(flatten)]
    encryption: EncryptionKeys,
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
    /// hookd's URL as webhook providers reach it (e.g. `https://hooks.example.com`), the base
    /// of every inbound source's `ingestUrl`; without it, `http://` and the request's `Host`.
    #[arg(long, env = "HOOKD_PUBLIC_URL")]
    public_url: Option<String>,
    /// End a dashboard session that has been unused this long (e.g. `30m`).
    #[arg(long, env = "HOOKD_DASHBOARD_IDLE_TIMEOUT", default_value = "1h", value_parser = parse_positive_duration)]
    dashboard_idle_timeout: Duration,
    /// End every dashboard session this long after its login (e.g. `12h`).
    #[arg(long, env = "HOOKD_DASHBOARD_SESSION_LIFETIME", default_value = "12h", value_parser = parse_positive_duration)]
    dashboard_session_lifetime: Duration,
    /// Bearer token that `GET /metrics` requires. Without it, `/metrics` is open: keep it
    /// behind your network.
    #[arg(long, env = "HOOKD_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Export spans over OpenTelemetry OTLP (HTTP/protobuf) to this collector, e.g.
    /// `http://127.0.0.1:4318` (posted to its `/v1/traces`). Without it, nothing is exported.
    #[arg(long, env = "HOOKD_OTLP_ENDPOINT", value_parser = OtlpEndpoint::parse)]
    otlp_endpoint: Option<OtlpEndpoint>,
    /// API requests per second each token may make (after authentication; past it, 429 with
    /// `Retry-After`). 0 turns the limit off.
    #[arg(long, env = "HOOKD_API_RATE_LIMIT", default_value_t = 50_000)]
    api_rate_limit: u32,
    /// Requests a token may make at once above --api-rate-limit before it is slowed down.
    #[arg(long, env = "HOOKD_API_RATE_BURST", default_value_t = 100_000, value_parser = value_parser!(u32).range(1..))]
    api_rate_burst: u32,
    /// Readiness (`/api/v1/health/ready`) fails when the delivery loop has not gone round for
    /// this long; it goes round at least twice a second when healthy.
    #[arg(long, env = "HOOKD_ENGINE_STALL_TIMEOUT", default_value = "30s", value_parser = parse_positive_duration)]
    engine_stall_timeout: Duration,
    /// Rejected inbound requests (bad signature, stale, ...) each source keeps in its request
    /// log a minute; past it they are still answered 401, but not stored. 0 stores none.
    #[arg(long, env = "HOOKD_INBOUND_REJECTED_LOG_PER_MINUTE", default_value_t = crate::ops::rejected_log::DEFAULT_PER_MINUTE)]
    inbound_rejected_log_per_minute: u32,
    #[command(flatten)]
    portal: portal::PortalArgs,
}

impl ServeArgs {
    /// `--otlp-endpoint`, which `cli` needs before the rest of the configuration.
    pub fn otlp_endpoint(&self) -> Option<&OtlpEndpoint> {
        self.otlp_endpoint.as_ref()
    }

    /// The configuration, with the connection cap kept below `descriptor_limit`.
    pub fn into_config(self, descriptor_limit: u64) -> Config {
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
        let tls = match (self.tls_cert, self.tls_key) {
            (Some(cert_path), Some(key_path)) => Some(TlsFiles {
                cert_path,
                key_path,
                reload_interval: self.tls_reload_interval,
            }),
            // The parser refuses one without the other.
            _ => None,
        };
        Config {
            listen: self.listen,
            tls,
            data_dir: self.data_dir,
            database_url: self.database_url.filter(|url| !url.is_empty()),
            encryption: self.encryption,
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
            public_url: self.public_url.filter(|url| !url.is_empty()),
            dashboard_idle_timeout: self.dashboard_idle_timeout,
            dashboard_session_lifetime: self.dashboard_session_lifetime,
            metrics_token: self.metrics_token.filter(|token| !token.is_empty()),
            otlp_endpoint: self.otlp_endpoint,
            api_rate_limit: std::num::NonZeroU32::new(self.api_rate_limit).map(|per_second| {
                ApiRateLimit {
                    per_second,
                    burst: std::num::NonZeroU32::new(self.api_rate_burst)
                        .unwrap_or(std::num::NonZeroU32::MIN),
                }
            }),
            engine_stall_timeout: self.engine_stall_timeout,
            inbound_rejected_log_per_minute: self.inbound_rejected_log_per_minute,
            portal: self.portal.into_settings(),
        }
    }
}

#[cfg(test)]
mod tests {
    //! The defaults are written once, in the flag definitions; these tests hold README.md's table
    //! of flags (and so `--help`, which clap renders from the same definitions) to them.

    use super::*;

    /// One row of README.md's configuration table: flag, environment variable, default.
    struct DocumentedFlag {
        flag: String,
        env: String,
        default: String,
    }

    fn documented_flags() -> Vec<DocumentedFlag> {
        let readme = include_str!("../../../README.md");
        let table = readme
            .split("## Configuration")
            .nth(1)
            .expect("README.md has a Configuration section");
        table
            .lines()
            .filter(|line| line.starts_with("| `--"))
            .map(|line| {
                let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                let unquote = |cell: &str| cell.trim_matches('`').to_owned();
                DocumentedFlag {
                    flag: unquote(cells[1]).trim_start_matches("--").to_owned(),
                    env: unquote(cells[2]).trim_end_matches("=true").to_owned(),
                    default: cells[3].to_owned(),
                }
            })
            .collect()
    }

    fn serve_command() -> clap::Command {
        ServeArgs::augment_args(clap::Command::new("hookd serve"))
    }

    /// What README.md should say for a flag's default: the value in backticks, `off` for an
    /// on/off flag, or (no default value) anything not in backticks, which describes it.
    fn check_default(row: &DocumentedFlag, flag: &clap::Arg) {
        let defaults: Vec<String> = flag
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        let is_switch = matches!(flag.get_action(), clap::ArgAction::SetTrue);
        match (defaults.as_slice(), is_switch) {
            (_, true) => assert_eq!(row.default, "off", "--{}", row.flag),
            ([], false) => assert!(
                !row.default.starts_with('`'),
                "--{} has no default, but README.md gives {}",
                row.flag,
                row.default
            ),
            ([value], false) => assert_eq!(row.default, format!("`{value}`"), "--{}", row.flag),
            (values, false) => panic!("--{} has several defaults: {values:?}", row.flag),
        }
    }

    #[test]
    fn readme_documents_every_flag_with_its_environment_variable_and_default() {
        let command = serve_command();
        let rows = documented_flags();
        assert!(
            rows.len() > 20,
            "found only {} rows in README.md",
            rows.len()
        );
        for row in &rows {
            let flag = command
                .get_arguments()
                .find(|flag| flag.get_long() == Some(row.flag.as_str()))
                .unwrap_or_else(|| panic!("README.md documents --{}, which serve lacks", row.flag));
            let env = flag.get_env().map(|env| env.to_string_lossy().into_owned());
            assert_eq!(env.as_deref(), Some(row.env.as_str()), "--{}", row.flag);
            check_default(row, flag);
        }
        for flag in command.get_arguments() {
            let long = flag.get_long().expect("every serve flag is long");
            assert!(
                rows.iter().any(|row| row.flag == long),
                "--{long} is missing from README.md's table"
            );
        }
    }

    #[test]
    fn no_flags_give_the_documented_configuration() {
        let config = Config::from_serve_flags(Vec::<String>::new(), 4096).unwrap();
        let expected = [
            ("listen", format!("{}", config.listen), "127.0.0.1:8071"),
            (
                "data-dir",
                config.data_dir.display().to_string(),
                "./hookd-data",
            ),
            ("database-url", format!("{:?}", config.database_url), "None"),
            ("tls-cert", format!("{:?}", config.tls), "None"),
            (
                "retry-schedule",
                config.retry_schedule.to_string(),
                "5s,5m,30m,2h,5h,10h,10h",
            ),
            (
                "max-body-bytes",
                config.max_body_bytes.to_string(),
                "1048576",
            ),
            (
                "max-in-flight-body-bytes",
                config.max_in_flight_body_bytes.to_string(),
                "67108864",
            ),
            (
                "body-read-timeout",
                format!("{:?}", config.body_read_timeout),
                "30s",
            ),
            (
                "header-read-timeout",
                format!("{:?}", config.connection_limits.header_read_timeout),
                "10s",
            ),
            (
                "idle-timeout",
                format!("{:?}", config.connection_limits.idle_timeout),
                "60s",
            ),
            // The open-file limit, less 64 kept for the database and the like, less one per
            // delivery slot.
            (
                "max-connections",
                config.connection_limits.max_connections.to_string(),
                "3776",
            ),
            (
                "shutdown-timeout",
                format!("{:?}", config.connection_limits.shutdown_timeout),
                "30s",
            ),
            (
                "delivery-timeout-secs",
                format!("{:?}", config.delivery_timeout),
                "15s",
            ),
            ("max-in-flight", config.max_in_flight.to_string(), "256"),
            (
                "endpoint-max-in-flight",
                config.endpoint_max_in_flight.to_string(),
                "32",
            ),
            (
                "disable-after",
                format!("{:?}", config.disable_after),
                "432000s",
            ),
            ("svix-headers", config.svix_headers.to_string(), "true"),
            (
                "payload-retention",
                format!("{:?}", config.payload_retention),
                "2592000s",
            ),
            (
                "idempotency-window",
                format!("{:?}", config.idempotency_window),
                "43200s",
            ),
            (
                "dashboard-idle-timeout",
                format!("{:?}", config.dashboard_idle_timeout),
                "3600s",
            ),
            (
                "dashboard-session-lifetime",
                format!("{:?}", config.dashboard_session_lifetime),
                "43200s",
            ),
            (
                "allow-private-targets",
                config.allow_private_targets.to_string(),
                "false",
            ),
            ("https-only", config.https_only.to_string(), "false"),
            (
                "api-rate-limit",
                format!("{:?}", config.api_rate_limit.map(|limit| limit.per_second)),
                "Some(50000)",
            ),
            (
                "api-rate-burst",
                format!("{:?}", config.api_rate_limit.map(|limit| limit.burst)),
                "Some(100000)",
            ),
            (
                "engine-stall-timeout",
                format!("{:?}", config.engine_stall_timeout),
                "30s",
            ),
            (
                "metrics-token",
                format!("{:?}", config.metrics_token),
                "None",
            ),
            (
                "otlp-endpoint",
                format!("{:?}", config.otlp_endpoint),
                "None",
            ),
        ];
        for (flag, found, documented) in expected {
            assert_eq!(found, documented, "--{flag}");
        }
    }

    #[test]
    fn tls_takes_a_certificate_and_its_key_together() {
        let config = Config::from_serve_flags(
            [
                "--tls-cert",
                "cert.pem",
                "--tls-key",
                "key.pem",
                "--tls-reload-interval",
                "1s",
            ],
            4096,
        )
        .unwrap();
        assert_eq!(
            config.tls,
            Some(TlsFiles {
                cert_path: "cert.pem".into(),
                key_path: "key.pem".into(),
                reload_interval: Duration::from_secs(1),
            })
        );
        for (flags, missing) in [
            (["--tls-cert", "cert.pem"], "--tls-key"),
            (["--tls-key", "key.pem"], "--tls-cert"),
        ] {
            let refused = Config::from_serve_flags(flags, 4096)
                .unwrap_err()
                .to_string();
            assert!(
                refused.contains("required arguments were not provided")
                    && refused.contains(missing),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_config_built_from_flags_refuses_what_the_binary_refuses() {
        let config = Config::from_serve_flags(["--max-in-flight", "3"], 4096).unwrap();
        assert_eq!(config.max_in_flight, 3);
        let refused = Config::from_serve_flags(["--max-in-flight", "0"], 4096);
        assert!(
            refused.is_err(),
            "a refused value is refused here as by the binary"
        );
    }
}
