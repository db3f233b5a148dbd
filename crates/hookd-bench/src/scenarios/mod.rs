//! The scenarios of issue 3 and what they share. Each scenario starts what it needs (a receiver,
//! a fresh hookd with a fresh data directory per case), drives load through the real HTTP API,
//! and adds one `CaseResult` per case to the report. Before each scenario the disk's durable-write
//! rate is measured, and every case of the scenario carries it.
//!
//! Scenarios never talk to anything but 127.0.0.1, and every wait is bounded.

pub mod backlog;
pub mod ceiling;
pub mod delivery;
pub mod inbound;
pub mod ingest;
pub mod isolation;
pub mod latency;
pub mod nodes;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::disk;
use crate::hookd_api::{HookdApi, message_body};
use crate::hookd_process::{ADMIN_TOKEN, HookdLaunch, HookdProcess};
use crate::load::LoadRun;
use crate::pg_stats::PgStatements;
use crate::progress::Progress;
use crate::receiver::{Arrival, Receiver};
use crate::report::{ACCEPT_P99, BenchReport, CaseResult, PG_PER_DELIVERY, Percentiles};

/// How long the disk probe runs before each scenario.
const FSYNC_PROBE_DURATION: Duration = Duration::from_secs(2);
/// Waiting for deliveries gives up when none has arrived for this long.
const DELIVERY_STALL_LIMIT: Duration = Duration::from_secs(60);
/// How often a wait that has enough arrivals, duplicates included, counts the distinct ones.
const DISTINCT_CHECK_EVERY: Duration = Duration::from_millis(200);
/// Concurrent API clients used to send messages in the throughput scenarios.
pub const SENDING_CLIENTS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Ceiling,
    Ingest,
    Inbound,
    Delivery,
    Latency,
    Isolation,
    Backlog,
    Nodes,
}

impl Scenario {
    /// Every scenario, in the order `all` runs them (later ones compare with earlier ones).
    pub const ALL: [Scenario; 8] = [
        Scenario::Ceiling,
        Scenario::Ingest,
        Scenario::Inbound,
        Scenario::Delivery,
        Scenario::Latency,
        Scenario::Isolation,
        Scenario::Backlog,
        Scenario::Nodes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ceiling => "ceiling",
            Scenario::Ingest => "ingest",
            Scenario::Inbound => "inbound",
            Scenario::Delivery => "delivery",
            Scenario::Latency => "latency",
            Scenario::Isolation => "isolation",
            Scenario::Backlog => "backlog",
            Scenario::Nodes => "nodes",
        }
    }
}

/// How much work each scenario does.
#[derive(Debug, Clone)]
pub struct Sizes {
    pub ceiling_requests: u64,
    pub ingest_messages: u64,
    /// Signed provider requests of each inbound case (all are signed before the case starts).
    pub inbound_requests: u64,
    /// Messages of the one-endpoint delivery case.
    pub delivery_messages: u64,
    /// Messages of the fan-out case (each one is delivered ten times).
    pub fanout_messages: u64,
    pub latency_duration: Duration,
    /// Messages per second of each fixed-rate latency case (the 80% case comes after them).
    pub latency_rates: Vec<f64>,
    /// Messages of each nodes case; each goes to the 10 endpoints of one of its applications.
    pub nodes_messages: u64,
    pub isolation_duration: Duration,
    /// Messages per second of each isolation case; each goes to all 50 (or 51) endpoints.
    pub isolation_rates: Vec<f64>,
    pub backlog_messages: u64,
    /// No load phase starts a request after this long.
    pub phase_time_limit: Duration,
}

impl Sizes {
    /// Small counts: all scenarios in about a minute.
    pub fn quick() -> Self {
        Sizes {
            ceiling_requests: 50_000,
            ingest_messages: 10_000,
            inbound_requests: 10_000,
            delivery_messages: 5_000,
            fanout_messages: 1_000,
            latency_duration: Duration::from_secs(5),
            latency_rates: vec![1_000.0, 400.0],
            nodes_messages: 2_000,
            isolation_duration: Duration::from_secs(5),
            isolation_rates: vec![20.0, 60.0],
            backlog_messages: 10_000,
            phase_time_limit: Duration::from_secs(120),
        }
    }

    /// The sizes of a full run.
    pub fn full() -> Self {
        Sizes {
            ceiling_requests: 200_000,
            ingest_messages: 200_000,
            inbound_requests: 50_000,
            delivery_messages: 100_000,
            fanout_messages: 20_000,
            latency_duration: Duration::from_secs(30),
            latency_rates: vec![1_000.0, 400.0],
            nodes_messages: 20_000,
            isolation_duration: Duration::from_secs(30),
            isolation_rates: vec![20.0, 60.0],
            backlog_messages: 1_000_000,
            phase_time_limit: Duration::from_secs(1800),
        }
    }
}

/// The state of one benchmark run: how to start hookd, the sizes, and the results so far.
pub struct Bench {
    pub launch: HookdLaunch,
    pub sizes: Sizes,
    /// One HTTP client for every request the benchmark makes, so all share its pool.
    pub http: reqwest::Client,
    pub report: BenchReport,
    /// The disk probe's result for the scenario being run.
    fsync_per_sec: f64,
    /// Whether PostgreSQL statements can be counted in this run.
    pg_counting: PgCounting,
}

/// Whether `pg_stat_statements` can be read for the delivery-type cases.
pub enum PgCounting {
    /// SQLite: nothing to count.
    NotPostgres,
    /// PostgreSQL, but the extension cannot be created or read: why.
    Unavailable(String),
    Available(PgStatements),
}

impl Bench {
    pub fn new(launch: HookdLaunch, sizes: Sizes, report: BenchReport) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(1024)
            .build()?;
        Ok(Bench {
            launch,
            sizes,
            http,
            report,
            fsync_per_sec: 0.0,
            pg_counting: PgCounting::NotPostgres,
        })
    }

    /// With `--database-url`, opens the `pg_stat_statements` reader (or notes why it cannot).
    pub async fn open_pg_counting(&mut self) {
        let Some(url) = self.launch.database_url.clone() else {
            return;
        };
        self.pg_counting = match PgStatements::open(&url).await {
            Ok(statements) => PgCounting::Available(statements),
            Err(error) => {
                let reason = format!("{error:#}");
                eprintln!("  PostgreSQL statements will not be counted: {reason}");
                self.report.notes.push(format!(
                    "PostgreSQL statements per delivery not counted: {reason}"
                ));
                PgCounting::Unavailable(reason)
            }
        };
    }

    /// Right before a delivery-type case's load: resets the statement statistics, if counted.
    pub async fn pg_reset(&self) -> anyhow::Result<()> {
        match &self.pg_counting {
            PgCounting::Available(statements) => statements.reset().await,
            _ => Ok(()),
        }
    }

    /// Right after the case's last receipt: adds hookd's statements per delivery to `result`,
    /// or why they were not counted.
    pub async fn pg_read(&self, result: &mut CaseResult, deliveries: u64) -> anyhow::Result<()> {
        match &self.pg_counting {
            PgCounting::NotPostgres => {}
            PgCounting::Unavailable(reason) => {
                result.details.insert(
                    PG_PER_DELIVERY.into(),
                    json!(format!("not counted ({reason})")),
                );
            }
            PgCounting::Available(statements) => {
                let counts = statements.read(deliveries).await?;
                if let Some(per_delivery) = counts.per_delivery {
                    result
                        .details
                        .insert(PG_PER_DELIVERY.into(), json!(per_delivery));
                }
                if let Some(per_delivery) = counts.per_delivery_without_transaction_control {
                    result.details.insert(
                        "PG statements per delivery without BEGIN/COMMIT".into(),
                        json!(per_delivery),
                    );
                }
                result.pg_statements = Some(counts);
            }
        }
        Ok(())
    }

    /// Measures the disk, then runs one scenario.
    pub async fn run(&mut self, scenario: Scenario) -> anyhow::Result<()> {
        eprintln!("== {}", scenario.name());
        self.fsync_per_sec =
            disk::measure_fsync_rate(&self.launch.work_dir, FSYNC_PROBE_DURATION).await?;
        eprintln!(
            "  disk: {:.0} fsync/s (512-byte writes)",
            self.fsync_per_sec
        );
        match scenario {
            Scenario::Ceiling => ceiling::run(self).await,
            Scenario::Ingest => ingest::run(self).await,
            Scenario::Inbound => inbound::run(self).await,
            Scenario::Delivery => delivery::run(self).await,
            Scenario::Latency => latency::run(self).await,
            Scenario::Isolation => isolation::run(self).await,
            Scenario::Backlog => backlog::run(self).await,
            Scenario::Nodes => nodes::run(self).await,
        }
    }

    /// Starts a fresh hookd and a client for its API.
    pub async fn start_hookd(
        &self,
        extra_args: &[String],
    ) -> anyhow::Result<(HookdProcess, HookdApi)> {
        let hookd = HookdProcess::start(&self.launch, extra_args).await?;
        let api = HookdApi::new(self.http.clone(), hookd.base_url(), ADMIN_TOKEN);
        Ok((hookd, api))
    }

    /// An empty result for a case of `scenario`, carrying the current disk measurement.
    pub fn new_case(&self, scenario: Scenario, key: &str, case: String, unit: &str) -> CaseResult {
        CaseResult {
            key: key.to_owned(),
            scenario: scenario.name().to_owned(),
            case,
            count: 0,
            unit: unit.to_owned(),
            rate_per_sec: 0.0,
            elapsed_secs: 0.0,
            latency: None,
            errors: 0,
            first_error: None,
            hookd: None,
            phase_cpu: None,
            hookd_cpu_us_per_unit: None,
            bench_cpu_us_per_unit: None,
            pg_statements: None,
            fsync_per_sec: self.fsync_per_sec,
            details: serde_json::Map::new(),
        }
    }

    /// Adds a finished case to the report and prints a one-line summary.
    pub fn record(&mut self, mut result: CaseResult) {
        result.compute_cpu_per_unit();
        eprintln!(
            "  -> {} / {}: {} {} at {:.0}/s{}{}{}",
            result.scenario,
            result.case,
            result.count,
            result.unit,
            result.rate_per_sec,
            result
                .latency
                .map(|latency| format!(
                    ", p50 {:.1} ms, p99 {:.1} ms",
                    latency.p50_ms, latency.p99_ms
                ))
                .unwrap_or_default(),
            result
                .hookd_cpu_us_per_unit
                .map(|us| format!(", hookd {us:.0} µs CPU each"))
                .unwrap_or_default(),
            if result.errors > 0 {
                format!(", {} errors", result.errors)
            } else {
                String::new()
            },
        );
        self.report.results.push(result);
    }
}

/// Sends benchmark messages to one application; `send` fits the load driver's closures.
#[derive(Clone)]
pub struct MessageSender {
    api: HookdApi,
    app_id: Arc<str>,
}

impl MessageSender {
    pub fn new(api: &HookdApi, app_id: &str) -> Self {
        MessageSender {
            api: api.clone(),
            app_id: app_id.into(),
        }
    }

    /// Sends message number `sequence`; resolves to its id once hookd has answered 202.
    pub fn send(
        &self,
        sequence: u64,
    ) -> impl Future<Output = anyhow::Result<String>> + Send + use<> {
        let sender = self.clone();
        async move {
            sender
                .api
                .send_message(&sender.app_id, message_body(sequence))
                .await
        }
    }
}

/// Creates an application with `healthy` endpoints `/ep/0..healthy` on the receiver, plus the
/// slow endpoint (number `healthy`) when asked for.
pub async fn application_with_endpoints(
    api: &HookdApi,
    receiver: &Receiver,
    healthy: u32,
    with_slow: bool,
) -> anyhow::Result<String> {
    let app_id = api.create_application("bench").await?;
    for endpoint in 0..healthy {
        api.create_endpoint(&app_id, &receiver.endpoint_url(endpoint))
            .await?;
    }
    if with_slow {
        api.create_endpoint(&app_id, &receiver.slow_endpoint_url(healthy))
            .await?;
    }
    Ok(app_id)
}

/// Waits until the receiver has seen `expected` webhooks, printing progress. Gives up after
/// `limit`, or when nothing has arrived for a minute; returns whether all arrived.
pub async fn wait_for_arrivals(
    receiver: &Receiver,
    expected: u64,
    label: &str,
    limit: Duration,
) -> bool {
    let _progress = Progress::start(label, expected, receiver.counter());
    let started = Instant::now();
    let (mut last_count, mut last_change) = (receiver.arrival_count(), Instant::now());
    let mut last_distinct_check: Option<Instant> = None;
    while started.elapsed() < limit {
        let count = receiver.arrival_count();
        // The count includes redeliveries (several nodes may deliver one twice): enough arrivals
        // end the wait only once enough of them are distinct.
        if count >= expected
            && last_distinct_check.is_none_or(|checked| checked.elapsed() >= DISTINCT_CHECK_EVERY)
        {
            if receiver.distinct_arrival_count() >= expected {
                return true;
            }
            last_distinct_check = Some(Instant::now());
        }
        if count != last_count {
            (last_count, last_change) = (count, Instant::now());
        } else if last_change.elapsed() > DELIVERY_STALL_LIMIT {
            eprintln!(
                "  no delivery for {DELIVERY_STALL_LIMIT:?}: giving up at {count}/{expected}"
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "  time limit {limit:?} reached at {}/{expected}",
        receiver.arrival_count()
    );
    false
}

/// Deliveries matched to the messages that caused them.
pub struct MatchedDeliveries {
    /// Message sent (or due to be sent, at a fixed rate) -> webhook received.
    pub from_send: Vec<Duration>,
    /// hookd's 202 reached the client -> webhook received; zero when the webhook came first.
    pub from_accept: Vec<Duration>,
    /// Distinct (message, endpoint) pairs received.
    pub delivered: u64,
    /// Webhooks received more than once for the same endpoint (at-least-once redeliveries).
    pub duplicates: u64,
    pub last_arrival: Option<Instant>,
}

/// Matches `arrivals` on endpoints that `include` accepts with the messages of `sends`.
pub fn match_deliveries(
    sends: &LoadRun<String>,
    arrivals: &[Arrival],
    include: impl Fn(u32) -> bool,
) -> MatchedDeliveries {
    let sent: HashMap<&str, (Instant, Instant)> = sends
        .completed
        .iter()
        .map(|request| {
            (
                request.output.as_str(),
                (request.sent_at, request.answered_at),
            )
        })
        .collect();
    let mut seen: HashSet<(&str, u32)> = HashSet::with_capacity(arrivals.len());
    let mut matched = MatchedDeliveries {
        from_send: Vec::with_capacity(arrivals.len()),
        from_accept: Vec::with_capacity(arrivals.len()),
        delivered: 0,
        duplicates: 0,
        last_arrival: None,
    };
    for arrival in arrivals.iter().filter(|arrival| include(arrival.endpoint)) {
        if !seen.insert((arrival.webhook_id.as_str(), arrival.endpoint)) {
            matched.duplicates += 1;
            continue;
        }
        matched.delivered += 1;
        matched.last_arrival = matched.last_arrival.max(Some(arrival.at));
        if let Some(&(sent_at, accepted_at)) = sent.get(arrival.webhook_id.as_str()) {
            matched
                .from_send
                .push(arrival.at.saturating_duration_since(sent_at));
            matched
                .from_accept
                .push(arrival.at.saturating_duration_since(accepted_at));
        }
    }
    matched
}

impl MatchedDeliveries {
    /// Adds the accept-to-receipt percentiles and the duplicate count to a result's details.
    pub fn add_details(&self, result: &mut CaseResult) {
        if let Some(from_accept) = Percentiles::of(self.from_accept.clone()) {
            result
                .details
                .insert("accept→receipt p50 ms".into(), json!(from_accept.p50_ms));
            result
                .details
                .insert(ACCEPT_P99.into(), json!(from_accept.p99_ms));
        }
        if self.duplicates > 0 {
            result
                .details
                .insert("duplicate deliveries".into(), json!(self.duplicates));
        }
    }
}

/// Counts the deliveries that never arrived as errors of the case, and says so first: the
/// wait gave up (`what` names them: "deliveries", "healthy deliveries").
pub fn add_missing_deliveries(result: &mut CaseResult, what: &str, expected: u64, delivered: u64) {
    result.errors += expected.saturating_sub(delivered);
    result.first_error = Some(format!("only {delivered} of {expected} {what} arrived"));
}

/// Copies the load phase's totals (errors, first error) into a result.
pub fn add_load_errors<T>(result: &mut CaseResult, run: &LoadRun<T>) {
    result.errors += run.errors;
    if result.first_error.is_none() {
        result.first_error.clone_from(&run.first_error);
    }
}
