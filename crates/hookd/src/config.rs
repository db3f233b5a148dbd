//! Server configuration: one `Config` value built by `cli` from flags and environment variables
//! and passed explicitly to `app::start`. No module reads the environment on its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::http_server::ConnectionLimits;
use crate::policy::retry::RetrySchedule;

/// Everything `hookd serve` can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address the HTTP API listens on (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Where the SQLite database lives.
    pub data_dir: PathBuf,
    /// A `postgres://` URL: keep everything in PostgreSQL, shared with other hookd nodes,
    /// instead of SQLite in `data_dir`.
    pub database_url: Option<String>,
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
}

impl Config {
    /// The defaults of `hookd serve`, with data in `data_dir`.
    pub fn with_defaults(data_dir: PathBuf) -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8071)),
            data_dir,
            database_url: None,
            node_id: None,
            admin_token: None,
            allow_private_targets: false,
            https_only: false,
            retry_schedule: RetrySchedule::default(),
            max_body_bytes: 1024 * 1024,
            max_in_flight_body_bytes: 64 * 1024 * 1024,
            body_read_timeout: Duration::from_secs(30),
            connection_limits: ConnectionLimits {
                header_read_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_connections: 512,
                shutdown_timeout: Duration::from_secs(30),
            },
            delivery_timeout: Duration::from_secs(15),
            max_in_flight: 256,
            endpoint_max_in_flight: 32,
            disable_after: Duration::from_secs(5 * 24 * 3600),
            svix_headers: true,
            payload_retention: Duration::from_secs(30 * 24 * 3600),
            retention_interval: Duration::from_secs(60),
            idempotency_window: Duration::from_secs(12 * 3600),
        }
    }
}
