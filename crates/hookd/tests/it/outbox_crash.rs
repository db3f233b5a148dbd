//! The outbox across a crash: hookd is killed with SIGKILL while writes that raise operational
//! events are committing, and after a restart every change that survived has its event
//! delivered. This holds only because the event commits in the same transaction as the change
//! that raised it; with the event as a second write after the commit (as before the outbox), a
//! kill between the two leaves changes without events, and these tests fail.
//!
//! The kill lands while many such writes are in flight at once (concurrent endpoint creations;
//! attempt records of a busy recorder), three times per test, so that with a second write some
//! kill falls between a change's commit and its event's, rather than the test depending on one
//! narrow race.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{HookdProcess, Receiver, Reply, TOKEN, free_port};
use crate::postgres_schema::TestSchema;

const WAIT: Duration = Duration::from_secs(60);
/// Kills per test: each has a chance to fall between a change's commit and a later commit.
const KILLS: usize = 3;

/// How hookd is started, the same way before and after the kill.
type Start<'a> = &'a dyn Fn(&[&str]) -> HookdProcess;

fn sqlite(data_dir: &Path) -> impl Fn(&[&str]) -> HookdProcess + '_ {
    move |extra: &[&str]| {
        let mut args = vec![
            "--data-dir",
            data_dir.to_str().expect("a UTF-8 temporary path"),
            "--allow-private-targets",
        ];
        args.extend_from_slice(extra);
        HookdProcess::start(free_port(), &args)
    }
}

fn postgres(database_url: &str) -> impl Fn(&[&str]) -> HookdProcess + '_ {
    move |extra: &[&str]| {
        let mut args = vec![
            "--database-url",
            database_url,
            "--node-id",
            "outbox-node",
            "--allow-private-targets",
        ];
        args.extend_from_slice(extra);
        HookdProcess::start(free_port(), &args)
    }
}

#[tokio::test]
async fn endpoints_created_before_a_kill_are_announced_after_it() {
    let data_dir = tempfile::tempdir().unwrap();
    endpoints_keep_their_events_across_a_kill(&sqlite(data_dir.path())).await;
}

#[tokio::test]
async fn postgres_endpoints_created_before_a_kill_are_announced_after_it() {
    let schema = TestSchema::create("postgres_outbox_endpoints").await;
    endpoints_keep_their_events_across_a_kill(&postgres(&schema.url)).await;
}

#[tokio::test]
async fn attempts_recorded_before_a_kill_are_announced_after_it() {
    let data_dir = tempfile::tempdir().unwrap();
    attempts_keep_their_events_across_a_kill(&sqlite(data_dir.path())).await;
}

#[tokio::test]
async fn postgres_attempts_recorded_before_a_kill_are_announced_after_it() {
    let schema = TestSchema::create("postgres_outbox_attempts").await;
    attempts_keep_their_events_across_a_kill(&postgres(&schema.url)).await;
}

/// Concurrent writers create endpoints until hookd is killed, a few times over; after the last
/// restart, every endpoint that exists has had its `endpoint.created` delivered.
async fn endpoints_keep_their_events_across_a_kill(start: Start<'_>) {
    const WRITERS: usize = 16;
    const CREATED_PER_RUN: usize = 40;
    let http = reqwest::Client::new();
    let operator = Receiver::start(vec![]).await;
    let mut hookd = start(&[]);
    hookd.wait_ready(&http).await;
    subscribe(&http, &hookd, &operator, "endpoint.created").await;
    let app_id = create_app(&http, &hookd).await;

    let created = Arc::new(AtomicUsize::new(0));
    for run in 1..=KILLS {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                let (http, created) = (http.clone(), Arc::clone(&created));
                let url = format!("{}/app/{app_id}/endpoint", hookd.base);
                // Each writer creates endpoints one after another until its request fails.
                tokio::spawn(async move {
                    let endpoint = json!({"url": "http://127.0.0.1:9/hook"});
                    while let Ok((201, _)) = post(&http, &url, &endpoint).await {
                        created.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        wait_until(|| created.load(Ordering::SeqCst) >= run * CREATED_PER_RUN).await;
        hookd = kill_and_restart(hookd, start, &[], &http).await;
        for writer in writers {
            writer.await.unwrap();
        }
    }

    let endpoints = endpoint_ids(&http, &hookd, &app_id).await;
    assert!(
        endpoints.len() >= created.load(Ordering::SeqCst),
        "every endpoint answered 201 survives"
    );
    wait_for_events(&operator, "endpointId", &endpoints, "endpoints").await;
}

/// Messages to failing endpoints are attempted once each (no retries) while hookd is killed a
/// few times over; after the last restart, every message has had its
/// `message.attempt.exhausted` delivered: those recorded before a kill as well as those
/// attempted again after it.
async fn attempts_keep_their_events_across_a_kill(start: Start<'_>) {
    // Three messages per endpoint: fewer failures in a row than rest an endpoint.
    const ENDPOINTS: usize = 100;
    const MESSAGES: usize = 300;
    const ATTEMPTED_PER_RUN: usize = 60;
    let no_retries = ["--retry-schedule", ""];
    let http = reqwest::Client::new();
    let operator = Receiver::start(vec![]).await;
    let failing = Receiver::start(vec![Reply::status(500); 4 * MESSAGES]).await;
    let mut hookd = start(&no_retries);
    hookd.wait_ready(&http).await;
    subscribe(&http, &hookd, &operator, "message.attempt.exhausted").await;
    let app_id = create_app(&http, &hookd).await;
    for index in 0..ENDPOINTS {
        let endpoint = json!({"url": failing.url, "eventTypes": [format!("type.{index}")]});
        let url = format!("{}/app/{app_id}/endpoint", hookd.base);
        let (status, body) = post(&http, &url, &endpoint).await.unwrap();
        assert_eq!(status, 201, "{body}");
    }
    let sends = (0..MESSAGES).map(|n| {
        let url = format!("{}/app/{app_id}/msg", hookd.base);
        let message = json!({"eventType": format!("type.{}", n % ENDPOINTS), "payload": {"n": n}});
        let http = http.clone();
        async move {
            let (status, body) = post(&http, &url, &message).await.unwrap();
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    });
    let accepted: HashSet<String> = futures::future::join_all(sends).await.into_iter().collect();
    assert_eq!(accepted.len(), MESSAGES);
    for run in 1..=KILLS {
        wait_until(|| failing.received().len() >= run * ATTEMPTED_PER_RUN).await;
        hookd = kill_and_restart(hookd, start, &no_retries, &http).await;
    }
    wait_for_events(&operator, "msgId", &accepted, "messages").await;
}

/// SIGKILL (no shutdown code runs), then a new process on the same data.
async fn kill_and_restart(
    mut hookd: HookdProcess,
    start: Start<'_>,
    args: &[&str],
    http: &reqwest::Client,
) -> HookdProcess {
    hookd.child.kill().unwrap();
    hookd.child.wait().unwrap();
    let restarted = start(args);
    restarted.wait_ready(http).await;
    restarted
}

/// Registers an operational endpoint at `operator` for one event type.
async fn subscribe(
    http: &reqwest::Client,
    hookd: &HookdProcess,
    operator: &Receiver,
    event_type: &str,
) {
    let url = format!("{}/operational-webhook/endpoint", hookd.base);
    let endpoint = json!({"url": operator.url, "filterTypes": [event_type]});
    let (status, body) = post(http, &url, &endpoint).await.unwrap();
    assert_eq!(status, 201, "{body}");
}

async fn create_app(http: &reqwest::Client, hookd: &HookdProcess) -> String {
    let url = format!("{}/app", hookd.base);
    let (status, app) = post(http, &url, &json!({"name": "outbox"})).await.unwrap();
    assert_eq!(status, 201, "{app}");
    app["id"].as_str().unwrap().to_owned()
}

/// Every endpoint of the application, page by page.
async fn endpoint_ids(
    http: &reqwest::Client,
    hookd: &HookdProcess,
    app_id: &str,
) -> HashSet<String> {
    let mut ids = HashSet::new();
    let mut iterator: Option<String> = None;
    loop {
        let mut url = format!("{}/app/{app_id}/endpoint?limit=250", hookd.base);
        if let Some(iterator) = &iterator {
            url.push_str(&format!("&iterator={iterator}"));
        }
        let page: Value = http
            .get(url)
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for endpoint in page["data"].as_array().unwrap() {
            ids.insert(endpoint["id"].as_str().unwrap().to_owned());
        }
        if page["done"].as_bool().unwrap() {
            return ids;
        }
        iterator = page["iterator"].as_str().map(str::to_owned);
    }
}

/// Waits until the operator has received an event whose `data.{field}` names each of `expected`
/// (deliveries may repeat: at least once).
async fn wait_for_events(operator: &Receiver, field: &str, expected: &HashSet<String>, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let announced: HashSet<String> = operator
            .received()
            .iter()
            .map(|request| {
                let event: Value = serde_json::from_slice(&request.body).unwrap();
                event["data"][field].as_str().unwrap().to_owned()
            })
            .collect();
        let missing = expected.difference(&announced).count();
        if missing == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} of {} {what} that survived the kill were never announced",
            expected.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_until(condition: impl Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "hookd made no progress before the kill"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    body: &Value,
) -> Result<(u16, Value), reqwest::Error> {
    let response = http.post(url).bearer_auth(TOKEN).json(body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}
