//! Wiring: opens the store, settles the admin token, builds the delivery client, dispatcher and
//! router, and runs them until the shutdown token is cancelled.
//!
//! Shutdown order: the HTTP server stops accepting at once and gives its requests until the
//! shutdown deadline; the dispatcher, at the same time, stops claiming and finishes (within the
//! same deadline) or releases in-flight attempts; then the store's writer drains.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::domain::tokens::token_sha256;
use anyhow::Context;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::api::body_limits::BodyLimits;
use crate::api::{self, ApiContext, ApiSettings};
use crate::background::{BackgroundRunner, RunnerConfig};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::engine::attempt::AttemptPolicy;
use crate::engine::client::{ClientConfig, DeliveryClient, Resolver, SystemResolver};
use crate::engine::dispatcher::{Dispatcher, DispatcherConfig};
use crate::engine::heartbeat::Heartbeat;
use crate::http_server;
use crate::ops::Ops;
use crate::policy::backpressure::CircuitPolicy;
use crate::policy::ssrf::TargetPolicy;
use crate::retention::{self, RetentionConfig};
use crate::store::sealing::{Keyring, Sealing};
use crate::store::{Backend, Store};
use crate::telemetry::instruments::Instruments;

/// The setting under which a generated admin token's SHA-256 is kept.
const ADMIN_TOKEN_SETTING: &str = "admin_token_sha256";

/// What the server takes from the outside world; tests substitute their own.
#[derive(Clone)]
pub struct Dependencies {
    pub clock: Arc<dyn Clock>,
    pub resolver: Arc<dyn Resolver>,
}

impl Dependencies {
    pub fn production() -> Self {
        Dependencies {
            clock: Arc::new(SystemClock),
            resolver: Arc::new(SystemResolver),
        }
    }
}

/// Where the admin token that the API accepts comes from; the start-up summary says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminTokenSource {
    /// `--admin-token` / `HOOKD_ADMIN_TOKEN`. `overrides_stored` when a token generated on an
    /// earlier start is also stored: that one is not accepted while this one is set.
    Configured { overrides_stored: bool },
    /// The token generated on an earlier first start (only its hash is stored).
    Stored,
    /// Generated on this start and printed once.
    Generated,
}

/// A started server. Cancel its token (or call `shutdown`) to stop it.
pub struct RunningServer {
    local_addr: SocketAddr,
    node_id: String,
    admin_token_source: AdminTokenSource,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// This node's name: the configured one, or the one picked at random on start.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    pub fn admin_token_source(&self) -> AdminTokenSource {
        self.admin_token_source
    }

    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("the server task panicked")?
    }

    /// Stops the server gracefully and waits for it.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// Refuses to start when a stored secret is sealed with a key this process lacks (it could
/// neither be shown nor sign), and says once how secrets are kept: plain without a key (a
/// warning), or how many still wait for `hookd rotate-key`.
async fn check_sealed_values(store: &dyn Store, keyring: Option<&Keyring>) -> anyhow::Result<()> {
    let census = store
        .sealing_census()
        .await
        .context("counting the sealed secrets")?;
    require_every_key(&census, keyring)?;
    match keyring {
        None => tracing::warn!(
            plain_values = census.plain,
            "HOOKD_ENCRYPTION_KEY is not set: signing secrets, endpoint headers and credentials \
             and inbound source secrets are stored in plain text"
        ),
        Some(keyring) => {
            let waiting = census.not_under_newest(Some(keyring));
            if waiting > 0 {
                tracing::warn!(
                    key_id = %keyring.newest_id(),
                    values = waiting,
                    "stored secrets are plain or sealed with an older key: run `hookd rotate-key`"
                );
            }
        }
    }
    Ok(())
}

/// Refuses a database holding secrets sealed with a key that `keyring` lacks: they could
/// neither be shown, nor sign, nor be re-sealed. Shared by `serve` and `rotate-key`.
pub(crate) fn require_every_key(
    census: &crate::store::sealed_values::SealingCensus,
    keyring: Option<&Keyring>,
) -> anyhow::Result<()> {
    let missing = census.missing_keys(keyring);
    if !missing.is_empty() {
        let keys: Vec<String> = missing
            .iter()
            .map(|(key_id, values)| format!("{key_id} ({values} values)"))
            .collect();
        anyhow::bail!(
            "the database holds secrets sealed with key {}, which this hookd was not given: \
             set HOOKD_ENCRYPTION_KEY (or HOOKD_ENCRYPTION_OLD_KEYS) to include it",
            keys.join(", ")
        );
    }
    Ok(())
}

/// Starts hookd: returns once the listener is bound and the dispatcher is running.
pub async fn start(config: Config, deps: Dependencies) -> anyhow::Result<RunningServer> {
    // First, so that a wrong certificate or key is said at once, before anything is opened.
    let tls = config
        .tls
        .clone()
        .map(http_server::tls::Tls::load)
        .transpose()
        .context("loading the TLS certificate and key")?;
    let portal = crate::web::PortalPresentation::load(&config.portal)
        .context("reading the app portal's settings")?;
    if portal.embeddable && tls.is_none() {
        tracing::warn!(
            "--portal-frame-ancestors is set but hookd serves plain HTTP: the embedded portal's \
             session cookie is Secure, which browsers keep only when hookd is reached over HTTPS \
             (a proxy that terminates TLS) or on loopback"
        );
    }
    let node_id = config.node_id.clone().unwrap_or_else(generate_node_id);
    let keyring = config
        .encryption
        .keyring()
        .context("reading the encryption keys")?;
    let instruments = Arc::new(Instruments::new());
    let backend = Backend::open(
        config.database_url.as_deref(),
        &config.data_dir,
        &node_id,
        Sealing::new(keyring.clone()),
        &instruments,
    )
    .await
    .with_context(|| match &config.database_url {
        Some(_) => "opening the PostgreSQL database".to_owned(),
        None => format!("opening the database in {}", config.data_dir.display()),
    })?;
    let store = backend.store();
    check_sealed_values(store.as_ref(), keyring.as_ref()).await?;
    let (admin_token_sha256, admin_token_source) =
        settle_admin_token(store.as_ref(), config.admin_token.as_deref())
            .await
            .context("setting up the admin token")?;
    let target_policy = TargetPolicy {
        allow_private: config.allow_private_targets,
        https_only: config.https_only,
    };
    let client = DeliveryClient::new(
        ClientConfig {
            timeout: config.delivery_timeout,
            policy: target_policy,
            // Receivers (and the multi-node test) can tell the nodes of a deployment apart, also
            // when the node's name was made up at start-up.
            user_agent: format!("hookd/{} (node {node_id})", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        },
        Arc::clone(&deps.resolver),
    )
    .context("building the delivery client")?;
    crate::ops::applications::ensure_operational_application(store.as_ref(), deps.clock.now())
        .await
        .context("creating the operational webhooks application")?;
    let shared_store: Arc<dyn Store> = store.clone();
    let wake_background = Arc::new(Notify::new());
    let shutdown = CancellationToken::new();
    let engine_heartbeat = Heartbeat::default();

    let ops = Ops {
        store: Arc::clone(&shared_store),
        clock: Arc::clone(&deps.clock),
        target_policy,
        resolver: Arc::clone(&deps.resolver),
        wake_background: Arc::clone(&wake_background),
        payload_retention: config.payload_retention,
        message_feed: crate::ops::stream::MessageFeed::until(shutdown.child_token()),
        instruments: Arc::clone(&instruments),
        readiness: crate::ops::readiness::ReadinessProbe {
            engine_heartbeat: engine_heartbeat.clone(),
            engine_stall_after: config.engine_stall_timeout,
        },
        rejected_log: Arc::new(crate::ops::rejected_log::RejectedLogBudget::per_minute(
            config.inbound_rejected_log_per_minute,
        )),
        compiled_schemas: Default::default(),
    };
    let dashboard = crate::web::router(crate::web::WebContext {
        ops: ops.clone(),
        admin_token_sha256,
        sessions: crate::ops::web_sessions::SessionRules {
            idle: config.dashboard_idle_timeout,
            absolute: config.dashboard_session_lifetime,
        },
        secure_cookies: tls.is_some(),
        api_reference: Arc::new(
            serde_json::to_value(api::openapi::document())
                .context("rendering the OpenAPI document")?,
        ),
        portal: Arc::new(portal),
        public_url: config.public_url.clone(),
    });
    let router = api::router(
        ApiContext::new(ApiSettings {
            ops,
            admin_token_sha256,
            max_body_bytes: config.max_body_bytes,
            body_limits: BodyLimits::new(config.body_read_timeout, config.max_in_flight_body_bytes),
            idempotency_window: config.idempotency_window,
            public_url: config.public_url.clone(),
            metrics_token_sha256: config.metrics_token.as_deref().map(token_sha256),
            rate_limit: config
                .api_rate_limit
                .map(|limit| Arc::new(api::rate_limit::TokenRateLimit::new(limit))),
        }),
        dashboard,
    );
    let background_runner = BackgroundRunner {
        store: Arc::clone(&shared_store),
        clock: Arc::clone(&deps.clock),
        wake: wake_background,
        config: RunnerConfig::default(),
    };
    let dispatcher = Dispatcher {
        store: shared_store,
        client: Arc::new(client),
        clock: Arc::clone(&deps.clock),
        config: DispatcherConfig {
            max_in_flight: config.max_in_flight,
            claim_batch: 256,
            // Short, and renewed every second while an attempt runs: a dead node's deliveries
            // and endpoint slots come back within seconds, a live node's never lapse.
            lease: Duration::from_secs(6),
            lease_renewal: Duration::from_secs(1),
            poll_interval: Duration::from_millis(500),
            // In-flight attempts get the same shutdown deadline as requests.
            shutdown_grace: (config.delivery_timeout + Duration::from_secs(1))
                .min(config.connection_limits.shutdown_timeout),
            policy: AttemptPolicy {
                retry_schedule: config.retry_schedule.clone(),
                svix_headers: config.svix_headers,
                disable_after: config.disable_after,
                node_id: node_id.clone(),
            },
            default_endpoint_max_in_flight: config.endpoint_max_in_flight,
            circuit: CircuitPolicy::default(),
        },
        heartbeat: engine_heartbeat,
        instruments: Arc::clone(&instruments),
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let local_addr = listener.local_addr()?;
    if let Backend::Postgres(postgres) = &backend {
        // Other nodes' new deliveries wake this node's dispatcher too.
        postgres.listen_for_deliveries(shutdown.child_token());
    }
    let retention_task = tokio::spawn(retention::run(
        Arc::clone(&store),
        Arc::clone(&deps.clock),
        RetentionConfig {
            idempotency_window: config.idempotency_window,
            ..RetentionConfig::new(config.payload_retention, config.retention_interval)
        },
        shutdown.child_token(),
    ));
    let vitals_task = tokio::spawn(crate::engine::vitals::sample_until(
        Arc::clone(&store) as Arc<dyn Store>,
        Arc::clone(&deps.clock),
        instruments,
        shutdown.child_token(),
    ));
    let dispatcher_task = tokio::spawn(dispatcher.run(shutdown.child_token()));
    let background_task = tokio::spawn(background_runner.run(shutdown.child_token()));
    let http_shutdown = shutdown.clone();
    let connection_limits = config.connection_limits;
    let task = tokio::spawn(async move {
        http_server::serve(listener, router, connection_limits, tls, http_shutdown).await;
        tracing::info!("waiting for the delivery attempts in flight to finish");
        dispatcher_task.await.context("the dispatcher panicked")?;
        background_task
            .await
            .context("the background task runner panicked")?;
        retention_task
            .await
            .context("the retention task panicked")?;
        vitals_task.await.context("the metrics sampler panicked")?;
        tracing::info!("waiting for the store to finish its writes");
        backend.close().await;
        Ok(())
    });
    Ok(RunningServer {
        local_addr,
        node_id,
        admin_token_source,
        shutdown,
        task,
    })
}

/// Returns the SHA-256 of the admin token, and where it came from: the configured one, or the
/// one generated on first start (printed once, stored only as a hash).
async fn settle_admin_token(
    store: &dyn Store,
    configured: Option<&str>,
) -> anyhow::Result<([u8; 32], AdminTokenSource)> {
    let stored = store.get_setting(ADMIN_TOKEN_SETTING).await?;
    if let Some(token) = configured {
        let overrides_stored = stored.is_some();
        return Ok((
            token_sha256(token),
            AdminTokenSource::Configured { overrides_stored },
        ));
    }
    if let Some(stored) = stored {
        let mut digest = [0u8; 32];
        hex::decode_to_slice(stored.trim(), &mut digest)
            .context("the stored admin token hash is corrupt")?;
        return Ok((digest, AdminTokenSource::Stored));
    }
    let token = generate_token();
    let digest = token_sha256(&token);
    store
        .put_setting(ADMIN_TOKEN_SETTING, &hex::encode(digest))
        .await?;
    println!(
        "hookd generated an admin token; it is shown only this once:\n\n    {token}\n\n\
         Use it as `Authorization: Bearer <token>`, or set HOOKD_ADMIN_TOKEN to choose your own."
    );
    Ok((digest, AdminTokenSource::Generated))
}

/// A node name for a deployment that did not choose one: random, so leases stay tellable apart.
fn generate_node_id() -> String {
    format!("node-{:08x}", rand::random::<u32>())
}

fn generate_token() -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let random: [u8; 32] = rand::random();
    let suffix: String = random
        .iter()
        .map(|byte| ALPHABET[usize::from(*byte) % ALPHABET.len()] as char)
        .collect();
    format!("hookd_{suffix}")
}
