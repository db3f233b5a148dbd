//! PostgreSQL itself is restarted mid-run and hookd loses nothing it acknowledged. (Nodes killed
//! one at a time on a shared PostgreSQL are the crash suite's, in `crash.rs`.)

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Receiver, TOKEN, TestApp};
use crate::postgres_schema::TestSchema;

/// Restarts the local PostgreSQL cluster. Returns `None` when this machine cannot.
async fn restart_postgres() -> Option<()> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .next()?;
    let status = tokio::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .status()
        .await
        .ok()?;
    assert!(status.success(), "pg_ctlcluster restart failed: {status}");
    Some(())
}

#[tokio::test]
async fn postgres_restart_loses_nothing_acknowledged() {
    let schema = TestSchema::create("postgres_restart").await;
    // Restarting PostgreSQL breaks every other test using it, so this runs only under nextest,
    // where `.config/nextest.toml` gives it the machine to itself.
    if std::env::var_os("NEXTEST").is_none() {
        eprintln!(
            "skipping postgres_restart_loses_nothing_acknowledged: run it with cargo nextest"
        );
        return;
    }
    let app = {
        let url = schema.url.clone();
        TestApp::spawn_with(move |config| {
            config.database_url = Some(url);
            config.node_id = Some("restarted".to_owned());
        })
        .await
    };
    let receiver = Receiver::start(vec![]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;

    let restarting = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(700)).await;
        restart_postgres().await
    });
    let mut acknowledged = HashSet::new();
    let mut refused = 0;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) || !restarting.is_finished() {
        let response = app
            .http
            .post(app.url(&format!("/app/{app_id}/msg")))
            .bearer_auth(TOKEN)
            .json(&json!({"eventType": "restart.test", "payload": {"at": started.elapsed().as_millis() as u64}}))
            .send()
            .await;
        match response {
            Ok(response) if response.status().as_u16() == 202 => {
                let body: Value = response.json().await.unwrap();
                acknowledged.insert(body["id"].as_str().unwrap().to_owned());
            }
            _ => {
                refused += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let restarted = restarting.await.unwrap();
    if restarted.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to restart PostgreSQL"
        );
        eprintln!("skipping the restart check: pg_ctlcluster is not available here");
        return;
    }

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered: HashSet<String> = receiver
            .received()
            .iter()
            .map(|r| r.header("webhook-id").to_owned())
            .collect();
        if acknowledged.is_subset(&delivered) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} acknowledged messages delivered after the restart",
            acknowledged.intersection(&delivered).count(),
            acknowledged.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "acknowledged {}, refused during the restart {refused}",
        acknowledged.len()
    );
    assert!(
        refused > 0 || acknowledged.len() > 10,
        "the test exercised nothing"
    );
}
