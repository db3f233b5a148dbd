//! How one node shares its pool of in-flight slots: however many endpoints are slow, a healthy
//! endpoint keeps about the latency it has alone, and one quick endpoint alone can still use
//! every slot. The pool is small here so that slow endpoints fill it within a second.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Receiver, Reply, TestApp};

const WAIT: Duration = Duration::from_secs(60);
/// Slots in flight on the node under test.
const POOL: usize = 16;
/// How long a slow endpoint takes to answer 200.
const SLOW_REPLY: Duration = Duration::from_secs(2);
/// Healthy messages measured per run, sent at 20 a second.
const HEALTHY_MESSAGES: u32 = 60;

async fn create_app(app: &TestApp, name: &str) -> String {
    let (status, created) = app.post("/app", json!({"name": name})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

async fn create_endpoint(app: &TestApp, app_id: &str, body: serde_json::Value) -> String {
    let (status, endpoint) = app.post(&format!("/app/{app_id}/endpoint"), body).await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint["id"].as_str().unwrap().to_owned()
}

async fn send(app: &TestApp, app_id: &str, event_type: &str, n: u32) -> String {
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": event_type, "payload": {"n": n}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    message["id"].as_str().unwrap().to_owned()
}

fn percentile(samples: &[Duration], fraction: f64) -> Duration {
    let mut samples = samples.to_vec();
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples[index]
}

#[derive(Debug, Clone, Copy)]
struct Latency {
    p50: Duration,
    p99: Duration,
}

/// One healthy endpoint and `slow_endpoints` slow ones in the same application, each slow one
/// with a backlog that outlasts the measurement; returns the healthy endpoint's latency from
/// the API's answer to the receiver's receipt.
async fn healthy_latency(slow_endpoints: usize) -> Latency {
    let app = TestApp::spawn_with(|config| {
        config.max_in_flight = POOL;
        config.delivery_timeout = SLOW_REPLY * 2;
    })
    .await;
    let app_id = create_app(&app, "fairness").await;
    let healthy = Receiver::start(vec![]).await;
    create_endpoint(
        &app,
        &app_id,
        json!({"url": healthy.url, "filterTypes": ["healthy.ping"]}),
    )
    .await;
    // The healthy endpoint has delivered before the slow ones arrive, as in production.
    send(&app, &app_id, "healthy.ping", 0).await;
    healthy.wait_for(1, WAIT).await;

    let slow = Receiver::start(vec![Reply::delayed(200, SLOW_REPLY); 10_000]).await;
    for _ in 0..slow_endpoints {
        create_endpoint(
            &app,
            &app_id,
            json!({"url": slow.url, "filterTypes": ["slow.ping"]}),
        )
        .await;
    }
    if slow_endpoints > 0 {
        // The pool drains at most POOL / SLOW_REPLY = 8 slow deliveries a second: 96 of them
        // keep it busy for 12 s, far longer than the 3 s of healthy traffic.
        let slow_messages = 96usize.div_ceil(slow_endpoints);
        for n in 0..slow_messages {
            send(&app, &app_id, "slow.ping", n as u32).await;
        }
        // Measure only once slow attempts hold (most of) the pool.
        slow.wait_for(POOL / 2, WAIT).await;
    }

    let mut sent = HashMap::new();
    let started = Instant::now();
    for n in 0..HEALTHY_MESSAGES {
        let due = started + Duration::from_millis(50) * n;
        tokio::time::sleep_until(due.into()).await;
        let msg_id = send(&app, &app_id, "healthy.ping", n + 1).await;
        sent.insert(msg_id, Instant::now());
    }
    let received = healthy.wait_for(1 + HEALTHY_MESSAGES as usize, WAIT).await;
    let latencies: Vec<Duration> = received
        .iter()
        .filter_map(|request| {
            let accepted = sent.get(request.header("webhook-id"))?;
            Some(request.at.saturating_duration_since(*accepted))
        })
        .collect();
    assert_eq!(latencies.len(), HEALTHY_MESSAGES as usize);
    Latency {
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
    }
}

#[tokio::test]
async fn a_healthy_endpoint_keeps_its_latency_beside_10_and_50_slow_endpoints() {
    let alone = healthy_latency(0).await;
    let beside_10 = healthy_latency(10).await;
    let beside_50 = healthy_latency(50).await;
    eprintln!(
        "healthy endpoint alone: {alone:?}; beside 10 slow: {beside_10:?}; beside 50 slow: {beside_50:?}"
    );
    // Below 100 ms the difference is noise on a shared machine (a healthy delivery waits for
    // SQLite commits that the slow endpoints' records share); above it, the ratio must hold.
    // Without the reserve, both p50 and p99 beside slow endpoints were over 10 s.
    let floor = Duration::from_millis(100);
    for (slow_endpoints, beside) in [(10, beside_10), (50, beside_50)] {
        assert!(
            beside.p50.max(floor) <= alone.p50.max(floor) * 4,
            "healthy p50 {:?} beside {slow_endpoints} slow endpoints vs {:?} alone",
            beside.p50,
            alone.p50
        );
        assert!(
            beside.p99.max(floor) <= alone.p99.max(floor) * 4,
            "healthy p99 {:?} beside {slow_endpoints} slow endpoints vs {:?} alone",
            beside.p99,
            alone.p99
        );
    }
}

#[tokio::test]
async fn one_quick_endpoint_alone_can_use_every_slot() {
    const SMALL_POOL: usize = 8;
    let reply = Duration::from_millis(300);
    let app = TestApp::spawn_with(|config| {
        config.max_in_flight = SMALL_POOL;
        config.endpoint_max_in_flight = 64;
    })
    .await;
    let app_id = create_app(&app, "alone").await;
    let receiver = Receiver::start(vec![Reply::delayed(200, reply); 10_000]).await;
    create_endpoint(&app, &app_id, json!({"url": receiver.url})).await;
    let messages = SMALL_POOL * 5;
    for n in 0..messages {
        send(&app, &app_id, "invoice.paid", n as u32).await;
    }
    let received = receiver.wait_for(messages, WAIT).await;
    // Each request is in flight from its arrival until the reply leaves `reply` later; the
    // most that overlap is how many slots the endpoint held at once.
    let most_at_once = received
        .iter()
        .map(|request| {
            received
                .iter()
                .filter(|other| other.at <= request.at && request.at < other.at + reply)
                .count()
        })
        .max()
        .unwrap();
    assert_eq!(
        most_at_once, SMALL_POOL,
        "one endpoint alone held at most {most_at_once} slots"
    );
}
