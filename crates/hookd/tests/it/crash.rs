//! Durability across a crash: hookd is killed with SIGKILL right after accepting messages, while
//! deliveries are in flight, and a restarted hookd delivers every accepted message.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{HookdProcess, Receiver, Reply, TOKEN, free_port};

fn start(data_dir: &std::path::Path, port: u16) -> HookdProcess {
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary path");
    HookdProcess::start(
        port,
        &[
            "--data-dir",
            data_dir,
            "--allow-private-targets",
            "--retry-schedule",
            "200ms,200ms,200ms",
        ],
    )
}

#[tokio::test]
async fn a_killed_hookd_loses_no_accepted_message() {
    const MESSAGES: usize = 200;
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let http = reqwest::Client::new();
    // The first replies are slow, so deliveries are in flight when the process dies.
    let receiver = Receiver::start(vec![Reply::delayed(200, Duration::from_secs(2)); 20]).await;

    let mut first = start(data_dir.path(), port);
    first.wait_ready(&http).await;
    let post = |path: String, body: serde_json::Value| {
        let http = http.clone();
        async move {
            let response = http
                .post(path)
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success(), "{}", response.status());
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    let app = post(format!("{}/app", first.base), json!({"name": "crash"})).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    post(
        format!("{}/app/{app_id}/endpoint", first.base),
        json!({"url": receiver.url}),
    )
    .await;
    let sends = (0..MESSAGES).map(|n| {
        post(
            format!("{}/app/{app_id}/msg", first.base),
            json!({"eventType": "crash.test", "payload": {"n": n}}),
        )
    });
    let accepted: HashSet<String> = futures::future::join_all(sends)
        .await
        .iter()
        .map(|message| message["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(accepted.len(), MESSAGES);

    // SIGKILL: no shutdown code runs.
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let second = start(data_dir.path(), port);
    second.wait_ready(&http).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let delivered: HashSet<String> = receiver
            .received()
            .iter()
            .map(|request| request.header("webhook-id").to_owned())
            .collect();
        if accepted.is_subset(&delivered) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {MESSAGES} accepted messages delivered after restart",
            accepted.intersection(&delivered).count()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(second);
}
