//! The crash-safety suite: under a steady load of messages to an application with two
//! endpoints, hookd (the real binary) is killed with SIGKILL at random moments, `KILLS` times,
//! and restarted each time on the same data; the client keeps sending throughout. Afterwards
//! every message that was answered `202` has reached both endpoints at least once, and the
//! duplicates (deliveries repeated because a kill came between a receiver's answer and the
//! attempt's record) stay within what was in flight: no more than the leases the killed nodes
//! held when they died, counted in the database before each restart, and no more than
//! `KILLS * ENDPOINT_MAX_IN_FLIGHT` at each endpoint. On SQLite with one process, and on
//! PostgreSQL with three nodes, one killed at a time.
//!
//! The kill moments come from a seeded RNG; the seed is printed, and `HOOKD_CRASH_SEED` replays
//! one. The figures are printed and written to `target/suite-figures/crash-<backend>.json`.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use serde_json::{Value, json};

use crate::harness::{
    HookdProcess, Load, Received, Receiver, Reply, TOKEN, Targets, free_port, write_figures,
};
use crate::postgres_schema::TestSchema;

/// Kills per run, over all nodes.
const KILLS: usize = 8;
/// `--endpoint-max-in-flight` for the suite: the most deliveries to one endpoint leased at once
/// over all nodes, and so the most one kill can leave sent but unrecorded at an endpoint.
const ENDPOINT_MAX_IN_FLIGHT: usize = 8;
/// Senders of the load, each pausing `LOAD_PAUSE` between its sends: about 100 messages a
/// second at most, which a debug build on a busy machine delivers as they come.
const LOAD_SENDERS: usize = 4;
const LOAD_PAUSE: Duration = Duration::from_millis(40);
/// How long each receiver takes to answer, so that every kill finds deliveries in flight.
const RECEIVER_DELAY: Duration = Duration::from_millis(20);
/// Generous deadlines for conditions (a busy 2-core machine); none of them is a pause.
const PROGRESS_DEADLINE: Duration = Duration::from_secs(60);
const DELIVERY_DEADLINE: Duration = Duration::from_secs(120);

/// The flags every node of the suite runs with, besides where its data is.
fn suite_flags() -> Vec<String> {
    [
        "--allow-private-targets",
        // Healthy receivers answer at once; retries only matter for a request cut off by a kill
        // of the receiving side, which does not happen here.
        "--retry-schedule",
        "200ms,500ms,1s,2s",
        // Far above the receivers' delay, so that no attempt that reached a receiver is
        // recorded as a timeout and sent again: every duplicate is a kill's.
        "--delivery-timeout-secs",
        "10",
        "--endpoint-max-in-flight",
        &ENDPOINT_MAX_IN_FLIGHT.to_string(),
    ]
    .iter()
    .map(|flag| (*flag).to_owned())
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hookd_killed_at_random_loses_nothing_acknowledged() {
    let data_dir = tempfile::tempdir().unwrap();
    run_crash_suite(&Backend::Sqlite(data_dir.path().to_path_buf())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_nodes_killed_in_turn_lose_nothing_acknowledged() {
    let schema = TestSchema::create("postgres_crash_suite").await;
    run_crash_suite(&Backend::Postgres(schema)).await;
}

/// Where the nodes keep their data: one process on a SQLite directory, or three nodes on one
/// PostgreSQL schema.
enum Backend {
    Sqlite(std::path::PathBuf),
    Postgres(TestSchema),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    fn nodes(&self) -> usize {
        match self {
            Backend::Sqlite(_) => 1,
            Backend::Postgres(_) => 3,
        }
    }

    /// Starts node `node` and waits until it is ready. A port taken by someone else between
    /// `free_port` and hookd's bind makes hookd exit: then another port is tried.
    async fn start(&self, node: usize, http: &reqwest::Client) -> HookdProcess {
        let mut args = match self {
            Backend::Sqlite(data_dir) => {
                vec![
                    "--data-dir".to_owned(),
                    data_dir.to_str().unwrap().to_owned(),
                ]
            }
            // The same name after a restart: the new process releases the leases the killed
            // one held at once, instead of their running out.
            Backend::Postgres(schema) => vec![
                "--database-url".to_owned(),
                schema.url.clone(),
                "--node-id".to_owned(),
                node_id(node),
            ],
        };
        args.extend(suite_flags());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        for _ in 0..3 {
            let process = HookdProcess::start(free_port(), &args);
            if process.become_ready(http).await {
                return process;
            }
        }
        panic!("node {node} exited before it was ready, three times");
    }

    /// The deliveries node `node` held leases on when it was killed: claimed, perhaps sent,
    /// and not recorded. Only these can be delivered again because of the kill. Read with
    /// the node dead and before its restart releases them.
    async fn leased_by_dead_node(&self, node: usize) -> i64 {
        match self {
            Backend::Sqlite(data_dir) => {
                let database = rusqlite::Connection::open_with_flags(
                    data_dir.join("hookd.db"),
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
                )
                .expect("the dead node's database opens");
                database
                    .query_row(
                        "SELECT COUNT(*) FROM delivery WHERE status = 1 AND lease_token IS NOT NULL",
                        [],
                        |row| row.get(0),
                    )
                    .expect("leases can be counted")
            }
            Backend::Postgres(schema) => schema
                .connect()
                .await
                .query_one(
                    "SELECT COUNT(*) FROM delivery WHERE status = 1 AND lease_token IS NOT NULL
                     AND leased_by = $1",
                    &[&node_id(node)],
                )
                .await
                .expect("leases can be counted")
                .get(0),
        }
    }
}

fn node_id(node: usize) -> String {
    format!("node-{}", node + 1)
}

/// Runs the suite on the backend's nodes, asserts, and writes the figures.
async fn run_crash_suite(backend: &Backend) {
    let nodes = backend.nodes();
    let seed: u64 = std::env::var("HOOKD_CRASH_SEED")
        .ok()
        .map(|seed| seed.parse().expect("HOOKD_CRASH_SEED is a number"))
        .unwrap_or_else(rand::random);
    let name = backend.name();
    println!("crash suite on {name}: seed {seed} (replay with HOOKD_CRASH_SEED={seed})");
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    let started = Instant::now();
    let http = reqwest::Client::new();

    let mut processes = Vec::new();
    for node in 0..nodes {
        processes.push(backend.start(node, &http).await);
    }
    let targets = Targets::new(processes.iter().map(|p| p.base.clone()).collect());
    let receivers = [
        Receiver::answering(Reply::delayed(200, RECEIVER_DELAY)).await,
        Receiver::answering(Reply::delayed(200, RECEIVER_DELAY)).await,
    ];
    let app_id = app_with_two_endpoints(&http, &processes[0].base, &receivers).await;

    let load = Load::start(targets.clone(), &app_id, LOAD_SENDERS, LOAD_PAUSE);
    let mut restarted_at = Instant::now();
    let mut leased_at_kills = Vec::new();
    for kill in 0..KILLS {
        let victim = kill % nodes;
        // Each kill waits until the victim is doing the work it is about to lose: it has
        // delivered since it (re)started, and messages are being acknowledged. Then a random
        // moment 0.2 to 2.5 s later.
        let acknowledged_before = load.acknowledged();
        wait_until(PROGRESS_DEADLINE, "deliveries before a kill", || {
            load.acknowledged() > acknowledged_before
                && receivers.iter().any(|receiver| {
                    receiver.received().iter().any(|request| {
                        request.at > restarted_at
                            && (nodes == 1 || request.sender() == node_id(victim))
                    })
                })
        })
        .await;
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..2500))).await;
        processes[victim].kill();
        leased_at_kills.push(backend.leased_by_dead_node(victim).await);
        let restarted = backend.start(victim, &http).await;
        restarted_at = Instant::now();
        targets.set(victim, restarted.base.clone());
        processes[victim] = restarted;
        println!("kill {} of {KILLS}: node {}", kill + 1, victim + 1);
    }
    let load = load.stop().await;
    assert!(!load.acknowledged.is_empty(), "no message was acknowledged");

    // Wait for every acknowledged message at both endpoints, then until nothing more arrives,
    // so that a delivery repeated late is counted too.
    wait_until(
        DELIVERY_DEADLINE,
        "every acknowledged message delivered",
        || {
            receivers.iter().all(|receiver| {
                load.acknowledged
                    .is_subset(&delivered_ids(&receiver.received()))
            })
        },
    )
    .await;
    wait_until_quiet(&receivers).await;

    let endpoints: Vec<EndpointFigures> = receivers
        .iter()
        .map(|receiver| EndpointFigures::of(&receiver.received(), &load.acknowledged))
        .collect();
    let duplicate_bound = KILLS * ENDPOINT_MAX_IN_FLIGHT;
    let leased_at_kills_total: i64 = leased_at_kills.iter().sum();
    let duplicates_total: usize = endpoints.iter().map(|e| e.duplicates).sum();
    let figures = json!({
        "backend": name,
        "nodes": nodes,
        "seed": seed,
        "kills": KILLS,
        "acknowledged": load.acknowledged.len(),
        "unacknowledged_sends": load.unacknowledged,
        "lost": endpoints.iter().map(|e| e.lost.len()).sum::<usize>(),
        "duplicates_per_endpoint": endpoints.iter().map(|e| e.duplicates).collect::<Vec<_>>(),
        "delivered_unacknowledged_per_endpoint":
            endpoints.iter().map(|e| e.unacknowledged).collect::<Vec<_>>(),
        "receipts_per_node": receipts_per_node(&receivers),
        "duplicate_bound_per_endpoint": duplicate_bound,
        "leased_at_each_kill": leased_at_kills,
        "duplicate_bound_reason": format!(
            "a kill can only repeat deliveries the killed node held leases on (claimed, perhaps \
             sent, not yet recorded): in all, at most the leases counted after each kill; at \
             one endpoint, at most {KILLS} kills x --endpoint-max-in-flight \
             {ENDPOINT_MAX_IN_FLIGHT}"
        ),
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("crash suite figures: {figures:#}");
    write_figures(&format!("crash-{name}.json"), &figures);

    assert!(
        duplicates_total as i64 <= leased_at_kills_total,
        "{duplicates_total} duplicates, but the killed nodes held only {leased_at_kills_total} \
         leases when they died: {leased_at_kills:?}"
    );

    for (index, endpoint) in endpoints.iter().enumerate() {
        assert!(
            endpoint.lost.is_empty(),
            "endpoint {index} never got {} acknowledged messages, e.g. {:?}",
            endpoint.lost.len(),
            endpoint.lost.iter().take(5).collect::<Vec<_>>()
        );
        assert!(
            endpoint.duplicates <= duplicate_bound,
            "endpoint {index} got {} duplicates, more than the {duplicate_bound} that {KILLS} \
             kills could leave in flight",
            endpoint.duplicates
        );
        assert!(
            endpoint.distinct <= load.acknowledged.len() + load.unacknowledged,
            "endpoint {index} got messages nobody sent"
        );
    }
    if nodes > 1 {
        let per_node = receipts_per_node(&receivers);
        for node in 0..nodes {
            assert!(
                per_node.get(&node_id(node)).copied().unwrap_or(0) > 0,
                "{} did no work: {per_node:?}",
                node_id(node)
            );
        }
    }
}

/// What one endpoint's receiver saw, against the acknowledgements.
struct EndpointFigures {
    /// Acknowledged messages it never got.
    lost: Vec<String>,
    /// Receipts beyond the first of each message.
    duplicates: usize,
    /// Messages it got at all.
    distinct: usize,
    /// Messages it got whose send was not acknowledged (cut off by a kill after the commit).
    unacknowledged: usize,
}

impl EndpointFigures {
    fn of(received: &[Received], acknowledged: &HashSet<String>) -> EndpointFigures {
        let delivered = delivered_ids(received);
        EndpointFigures {
            lost: acknowledged.difference(&delivered).cloned().collect(),
            duplicates: received.len() - delivered.len(),
            distinct: delivered.len(),
            unacknowledged: delivered.difference(acknowledged).count(),
        }
    }
}

fn delivered_ids(received: &[Received]) -> HashSet<String> {
    received
        .iter()
        .map(|request| request.header("webhook-id").to_owned())
        .collect()
}

fn receipts_per_node(receivers: &[Receiver]) -> HashMap<String, usize> {
    let mut per_node = HashMap::new();
    for request in receivers.iter().flat_map(Receiver::received) {
        *per_node.entry(request.sender()).or_default() += 1;
    }
    per_node
}

/// An application with two endpoints that both take every message.
async fn app_with_two_endpoints(
    http: &reqwest::Client,
    base: &str,
    receivers: &[Receiver],
) -> String {
    let app = post(http, &format!("{base}/app"), json!({"name": "crash suite"})).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    for receiver in receivers {
        post(
            http,
            &format!("{base}/app/{app_id}/endpoint"),
            json!({"url": receiver.url}),
        )
        .await;
    }
    app_id
}

async fn post(http: &reqwest::Client, url: &str, body: Value) -> Value {
    let response = http
        .post(url)
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .expect("hookd answers");
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.expect("a JSON answer")
}

async fn wait_until(deadline: Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + deadline;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the receivers have got nothing new for a second.
async fn wait_until_quiet(receivers: &[Receiver]) {
    let total = || receivers.iter().map(|r| r.received().len()).sum::<usize>();
    let deadline = Instant::now() + PROGRESS_DEADLINE;
    let (mut last, mut since) = (total(), Instant::now());
    while since.elapsed() < Duration::from_secs(1) {
        assert!(Instant::now() < deadline, "deliveries never stopped");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = total();
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
}
