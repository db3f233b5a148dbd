//! The SSRF guard at delivery time: a name that resolved to a public address when the endpoint
//! was created, and resolves to loopback when the delivery is made (DNS rebinding), is refused
//! before any connection, and the receiver sees nothing.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use hookd::app::{self, Dependencies};
use hookd::clock::SystemClock;
use hookd::engine::client::Resolver;
use serde_json::json;

use crate::harness::{Receiver, TestApp, test_config};

/// Answers with a public address the first time a name is looked up, loopback afterwards.
#[derive(Default)]
struct RebindingResolver {
    lookups: AtomicUsize,
}

impl Resolver for RebindingResolver {
    fn resolve(&self, _host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let first = self.lookups.fetch_add(1, Ordering::SeqCst) == 0;
        Box::pin(async move {
            // 93.184.216.34 is a public address; nothing ever connects to it in this test.
            let ip = if first {
                Ipv4Addr::new(93, 184, 216, 34)
            } else {
                Ipv4Addr::LOCALHOST
            };
            Ok(vec![IpAddr::V4(ip)])
        })
    }
}

#[tokio::test]
async fn a_name_rebound_to_loopback_is_refused_at_delivery() {
    let receiver = Receiver::start(vec![]).await;
    let port = receiver
        .url
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches("/hook");
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = test_config(data_dir.path());
    config.allow_private_targets = false;
    config.retry_schedule = "".parse().unwrap();
    let resolver = Arc::new(RebindingResolver::default());
    let deps = Dependencies {
        clock: Arc::new(SystemClock),
        resolver: resolver.clone(),
    };
    let server = app::start(config, deps).await.unwrap();
    let app = TestApp::attach(&server);

    let (_, created) = app.post("/app", json!({"name": "rebinding"})).await;
    let app_id = created["id"].as_str().unwrap().to_owned();
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": format!("http://rebind.test:{port}/hook")}),
        )
        .await;
    assert_eq!(status, 201, "creation sees the public address: {endpoint}");

    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, Duration::from_secs(15), |attempts| {
            !attempts.is_empty()
        })
        .await;
    assert_eq!(attempts[0]["status"], 2);
    assert_eq!(attempts[0]["failureCode"], "ssrf_blocked");
    let refusal = attempts[0]["response"].as_str().unwrap();
    assert!(refusal.contains("--allow-private-targets"), "{refusal}");
    assert!(
        resolver.lookups.load(Ordering::SeqCst) >= 2,
        "delivery looked the name up again"
    );
    assert!(receiver.received().is_empty(), "the receiver was reached");
    server.shutdown().await.unwrap();
}
