//! Leases across nodes: when the node holding an endpoint's slots is killed, the other nodes
//! get those slots back within a short lease, not after a lease long enough to outlast any
//! request (delivery timeout × 2 + 30 s), because a live node renews its leases while its
//! attempts run.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{HookdProcess, Receiver, Reply, TOKEN, free_port};
use crate::postgres_schema::TestSchema;

/// Long enough that a lease sized to outlast a request (timeout × 2 + 30 s = 150 s) could not
/// run out while the test waits.
const DELIVERY_TIMEOUT_SECS: u64 = 60;

fn start_node(database_url: &str, node_id: &str) -> HookdProcess {
    HookdProcess::start(
        free_port(),
        &[
            "--database-url",
            database_url,
            "--node-id",
            node_id,
            "--allow-private-targets",
            "--delivery-timeout-secs",
            &DELIVERY_TIMEOUT_SECS.to_string(),
        ],
    )
}

#[tokio::test]
async fn postgres_killing_the_node_holding_an_endpoints_slots_stalls_it_only_briefly() {
    // The server default for an endpoint's attempts in flight, across every node.
    const SLOTS: usize = 32;
    const MESSAGES: usize = 80;
    let schema = TestSchema::create("postgres_leases_kill").await;
    let http = reqwest::Client::new();
    // node-3 starts alone, so it takes every slot of the endpoint; the receiver holds those
    // requests (for most of the delivery timeout, so that
    // they are still held when the other nodes are up) and answers everything after them at once.
    let mut holder = start_node(&schema.url, "node-3");
    holder.wait_ready(&http).await;
    let mut script =
        vec![Reply::delayed(200, Duration::from_secs(DELIVERY_TIMEOUT_SECS - 5)); SLOTS];
    script.push(Reply::status(200));
    let receiver = Receiver::start(script).await;
    let post = |path: String, body: serde_json::Value| {
        let request = http
            .post(format!("{}{path}", holder.base))
            .bearer_auth(TOKEN)
            .json(&body);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (status, app) = post("/app".to_owned(), json!({"name": "leases"})).await;
    assert_eq!(status, 201, "{app}");
    let app_id = app["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = post(
        format!("/app/{app_id}/endpoint"),
        json!({"url": receiver.url}),
    )
    .await;
    assert_eq!(status, 201, "{endpoint}");
    let mut accepted = std::collections::HashSet::new();
    for n in 0..MESSAGES {
        let (status, message) = post(
            format!("/app/{app_id}/msg"),
            json!({"eventType": "lease.test", "payload": {"n": n}}),
        )
        .await;
        assert_eq!(status, 202, "{message}");
        accepted.insert(message["id"].as_str().unwrap().to_owned());
    }
    let held = receiver.wait_for(SLOTS, Duration::from_secs(20)).await;
    assert!(held.iter().all(|request| request.sender() == "node-3"));

    let others = [
        start_node(&schema.url, "node-1"),
        start_node(&schema.url, "node-2"),
    ];
    for node in &others {
        node.wait_ready(&http).await;
    }
    assert_eq!(
        receiver.received().len(),
        SLOTS,
        "the endpoint is at its limit while node-3 lives"
    );
    holder.child.kill().unwrap();
    holder.child.wait().unwrap();
    let killed_at = Instant::now();

    // Half a delivery timeout: far less than the lease of timeout × 2 + 30 s (150 s) that the killed
    // node's slots were held for before leases were renewed.
    let bound = Duration::from_secs(DELIVERY_TIMEOUT_SECS / 2);
    let resumed = loop {
        let received = receiver.received();
        if let Some(first) = received.iter().find(|request| request.sender() != "node-3") {
            break first.at.saturating_duration_since(killed_at);
        }
        assert!(
            killed_at.elapsed() < bound,
            "no delivery to the endpoint {:?} after node-3 was killed",
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    println!("deliveries resumed {resumed:?} after the node holding the slots was killed");

    // Nothing is lost: every message arrives, those the killed node held included.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: std::collections::HashSet<String> = receiver
            .received()
            .iter()
            .filter(|request| request.sender() != "node-3")
            .map(|request| request.header("webhook-id").to_owned())
            .collect();
        if accepted.is_subset(&delivered) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} messages delivered by the surviving nodes",
            accepted.intersection(&delivered).count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
