//! The inbound gateway across a crash: hookd is killed with SIGKILL right after the provider got
//! its 2xx for each of many events, and the restarted hookd forwards every one of them. This
//! holds because the answer waits for the commit of the request with its message and
//! deliveries; an answer sent before that commit would lose events here.
//!
//! The ingest endpoint holds its first answers for seconds, so no delivery can complete between
//! an event's 2xx and the kill: each event must be sent again by the restarted process.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;
use webhook_signature::stripe;

use crate::harness::{HookdProcess, Receiver, Reply, TOKEN, free_port};

const EVENTS: usize = 40;

fn start(data_dir: &std::path::Path, port: u16) -> HookdProcess {
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
    HookdProcess::start(
        port,
        &[
            "--data-dir",
            data_dir,
            "--allow-private-targets",
            "--retry-schedule",
            "2s,2s,2s",
        ],
    )
}

#[tokio::test]
async fn events_answered_2xx_before_a_kill_are_forwarded_after_it() {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = reqwest::Client::new();
    let receiver = Receiver::start(vec![Reply::delayed(200, Duration::from_secs(5)); EVENTS]).await;

    let first = start(data_dir.path(), port);
    first.wait_ready(&http).await;
    let root = first.base.trim_end_matches("/api/v1").to_owned();
    let source: serde_json::Value = http
        .post(format!("{root}/ingest/api/v1/source"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "crash", "type": "stripe", "config": {"secret": "whsec_crash"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = source["id"].as_str().unwrap();
    let response = http
        .post(format!("{root}/ingest/api/v1/source/{id}/endpoint"))
        .bearer_auth(TOKEN)
        .json(&json!({"url": receiver.url}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 201);
    let ingest_url = source["ingestUrl"].as_str().unwrap().to_owned();

    let sends = (0..EVENTS).map(|n| {
        let http = http.clone();
        let url = ingest_url.clone();
        async move {
            let body = format!(r#"{{"id":"evt_{n}","type":"invoice.paid"}}"#);
            let signature = stripe::sign(
                b"whsec_crash",
                chrono::Utc::now().timestamp(),
                body.as_bytes(),
            );
            let response = http
                .post(url)
                .header("stripe-signature", signature)
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status().as_u16(), 200);
            body
        }
    });
    let answered: HashSet<String> = futures::future::join_all(sends).await.into_iter().collect();
    assert_eq!(answered.len(), EVENTS);

    // SIGKILL right after the last 2xx: no shutdown code runs.
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let restarted_at = Instant::now();

    let second = start(data_dir.path(), port);
    second.wait_ready(&http).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let after_restart: HashSet<String> = receiver
            .received()
            .iter()
            .filter(|request| request.at > restarted_at)
            .map(|request| String::from_utf8(request.body.to_vec()).unwrap())
            .collect();
        if answered.is_subset(&after_restart) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {EVENTS} answered events forwarded after the restart",
            answered.intersection(&after_restart).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
}
