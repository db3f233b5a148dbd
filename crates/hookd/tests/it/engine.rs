//! The delivery engine under pressure: isolation from slow endpoints, throttling, Retry-After,
//! 410 Gone, and the circuit breaker. Each test would fail without the behaviour it names.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{Receiver, Reply, TestApp, TestClock};

const WAIT: Duration = Duration::from_secs(20);

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

fn percentile(mut samples: Vec<Duration>, fraction: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples[index]
}

/// Sends `count` messages at `per_second` and returns the healthy receivers' p99 latency from
/// the API's answer to the receiver's receipt.
async fn healthy_p99(with_slow_endpoint: bool) -> Duration {
    let app = TestApp::spawn_with(|config| config.delivery_timeout = Duration::from_secs(10)).await;
    let app_id = create_app(&app, "isolation").await;
    let mut healthy = Vec::new();
    for _ in 0..20 {
        let receiver = Receiver::start(vec![]).await;
        create_endpoint(&app, &app_id, json!({"url": receiver.url})).await;
        healthy.push(receiver);
    }
    let slow = Receiver::start(vec![Reply::delayed(200, Duration::from_secs(5)); 1000]).await;
    if with_slow_endpoint {
        create_endpoint(&app, &app_id, json!({"url": slow.url})).await;
    }
    let mut sent = std::collections::HashMap::new();
    let started = Instant::now();
    for n in 0..60u32 {
        // 20 messages a second, on a fixed schedule.
        let due = started + Duration::from_millis(50) * n;
        tokio::time::sleep_until(due.into()).await;
        let msg_id = app.send_message(&app_id, json!({"n": n})).await;
        sent.insert(msg_id, Instant::now());
    }
    let mut latencies = Vec::new();
    for receiver in &healthy {
        for request in receiver.wait_for(60, WAIT).await {
            let accepted = sent[request.header("webhook-id")];
            latencies.push(request.at.saturating_duration_since(accepted));
        }
    }
    percentile(latencies, 0.99)
}

#[tokio::test]
async fn a_slow_endpoint_does_not_delay_healthy_ones() {
    let baseline = healthy_p99(false).await;
    let with_slow = healthy_p99(true).await;
    // A healthy delivery held up by the slow endpoint waits for its 5 s reply, so the failure
    // this test exists for is measured in seconds. Below 250 ms the difference is scheduling
    // noise on a busy 2-core CI machine (one run measured 81 ms against 25 ms); above it, the
    // ratio must hold.
    let floor = Duration::from_millis(250);
    assert!(
        with_slow.max(floor) <= baseline.max(floor) * 2,
        "healthy p99 {with_slow:?} with a slow endpoint vs {baseline:?} without"
    );
}

/// Time is injected: the clock moves one token's worth (200 ms at 5/s) at a time, and the
/// deliveries' times are the clock's.
#[tokio::test]
async fn an_endpoint_throttle_spaces_deliveries_without_failing_them() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let app_id = create_app(&app, "throttle").await;
    let receiver = Receiver::start_on(vec![], &clock).await;
    create_endpoint(
        &app,
        &app_id,
        json!({"url": receiver.url, "throttleRate": 5}),
    )
    .await;
    let started = clock.instant();
    let mut ids = Vec::new();
    for n in 0..15 {
        ids.push(app.send_message(&app_id, json!({"n": n})).await);
    }
    // While the clock stands still, the bucket's one token lets one delivery through.
    receiver.wait_for(1, WAIT).await;
    let why = "deliveries without a token";
    clock.pass_quietly(&receiver, started, why).await;
    let token = Duration::from_millis(200);
    for step in 1..15u32 {
        clock.advance_to(started + token * step);
        receiver.wait_for(step as usize + 1, WAIT).await;
    }
    let received = receiver.received();
    let in_first_second = received
        .iter()
        .filter(|request| request.at - started < Duration::from_millis(900))
        .count();
    assert!(
        in_first_second <= 6,
        "{in_first_second} deliveries in the first second at 5/s"
    );
    let last = received.iter().map(|request| request.at).max().unwrap();
    assert!(
        last - started >= Duration::from_millis(1500),
        "15 at 5/s took {:?}",
        last - started
    );
    // Waiting for a throttle is not a failed attempt: each message has exactly one attempt.
    for msg_id in &ids {
        let attempts = app
            .wait_for_attempts(&app_id, msg_id, WAIT, |attempts| !attempts.is_empty())
            .await;
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0]["status"], 0);
    }
}

/// Time is injected: the test moves hookd's clock instead of waiting for the Retry-After.
#[tokio::test]
async fn retry_after_is_honoured() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let app_id = create_app(&app, "retry-after").await;
    let busy = Reply {
        status: 429,
        delay: Duration::ZERO,
        headers: vec![("retry-after", "2".to_owned())],
    };
    let receiver = Receiver::start_on(vec![busy], &clock).await;
    create_endpoint(&app, &app_id, json!({"url": receiver.url})).await;
    app.send_message(&app_id, json!({})).await;
    let first_at = receiver.wait_for(1, WAIT).await[0].at;
    let early = first_at + Duration::from_millis(1900);
    let why = "retried before the Retry-After";
    clock.pass_quietly(&receiver, early, why).await;
    // The retry is due 2 s after the attempt finished, which took some real milliseconds.
    clock.advance_to(first_at + Duration::from_millis(2500));
    let received = receiver.wait_for(2, WAIT).await;
    let gap = received[1].at - received[0].at;
    // The schedule says 200 ms; the receiver asked for 2 s.
    assert!(gap >= Duration::from_millis(1900), "retried after {gap:?}");
}

/// Time is injected, so "no retry" holds over far more than the retry schedule.
#[tokio::test]
async fn gone_disables_the_endpoint_and_keeps_its_messages() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let app_id = create_app(&app, "gone").await;
    let receiver = Receiver::start_on(vec![Reply::status(410)], &clock).await;
    let endpoint_id = create_endpoint(&app, &app_id, json!({"url": receiver.url})).await;
    let first = app.send_message(&app_id, json!({})).await;
    app.wait_for_attempts(&app_id, &first, WAIT, |attempts| !attempts.is_empty())
        .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, endpoint) = app
            .get(&format!("/app/{app_id}/endpoint/{endpoint_id}"))
            .await;
        if endpoint["disabled"] == true {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "endpoint never disabled: {endpoint}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // No retry of the 410, and a later message is kept (listed) but not sent, however long
    // the clock runs (the retry schedule is 200ms,200ms; the rest after a failure 5 s).
    let later = app.send_message(&app_id, json!({})).await;
    let an_hour_on = clock.instant() + Duration::from_secs(3600);
    let why = "a request to a disabled endpoint";
    clock.pass_quietly(&receiver, an_hour_on, why).await;
    assert_eq!(receiver.received().len(), 1);
    let (status, message) = app.get(&format!("/app/{app_id}/msg/{later}")).await;
    assert_eq!(status, 200, "{message}");
}

/// Time is injected: the test moves hookd's clock through the rest instead of sleeping it.
#[tokio::test]
async fn a_failing_endpoint_is_probed_instead_of_hammered() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(
        |config| {
            config.retry_schedule = "100ms,100ms,100ms,100ms,100ms,100ms".parse().unwrap();
        },
        clock.dependencies(),
    )
    .await;
    let app_id = create_app(&app, "circuit").await;
    let receiver = Receiver::start_on(vec![Reply::status(500); 1000], &clock).await;
    create_endpoint(&app, &app_id, json!({"url": receiver.url})).await;
    for n in 0..10 {
        app.send_message(&app_id, json!({"n": n})).await;
    }
    // Five consecutive failures open the circuit (the default threshold).
    let opened_at = receiver.wait_for(5, WAIT).await[4].at;
    clock.pass_until(opened_at + Duration::from_secs(1)).await;
    let first_wave = receiver.received().len();
    // Without a circuit breaker, ten messages retried every 100 ms make dozens of requests in
    // the next seconds. With it, the endpoint rests for 5 s, then gets a single probe.
    let resting = opened_at + Duration::from_millis(3500);
    let why = "requests while the circuit was open";
    clock.pass_quietly(&receiver, resting, why).await;
    clock.advance_to(opened_at + Duration::from_millis(6500));
    receiver.wait_for(first_wave + 1, WAIT).await;
    let why = "more than one probe after the pause";
    clock.pass_quietly(&receiver, clock.instant(), why).await;
    assert_eq!(receiver.received().len(), first_wave + 1);
}

#[tokio::test]
async fn an_ordered_endpoint_receives_messages_one_at_a_time_in_order() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app, "ordered").await;
    // The first message fails twice; nothing behind it may overtake it.
    let mut script = vec![Reply::status(500), Reply::status(500)];
    script.extend(vec![Reply::delayed(200, Duration::from_millis(50)); 6]);
    let receiver = Receiver::start(script).await;
    create_endpoint(&app, &app_id, json!({"url": receiver.url, "ordered": true})).await;
    let mut sent = Vec::new();
    for n in 0..6 {
        sent.push(app.send_message(&app_id, json!({"n": n})).await);
    }
    let received = receiver.wait_for(8, WAIT).await;
    let order: Vec<&str> = received
        .iter()
        .map(|request| request.header("webhook-id"))
        .collect();
    let mut expected: Vec<&str> = vec![&sent[0], &sent[0]];
    expected.extend(sent.iter().map(String::as_str));
    assert_eq!(order, expected);
    // One at a time: each success takes 50 ms to answer, and the next request only comes after.
    for pair in received[2..].windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(
            gap >= Duration::from_millis(45),
            "overlapping deliveries ({gap:?} apart)"
        );
    }
}

/// Time is injected: the clock passes the endpoint's 50 ms, then the server's 200 ms and
/// far beyond, so the number of attempts is the schedule's and not the machine's speed.
#[tokio::test]
async fn an_endpoint_retry_schedule_replaces_the_servers() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let app_id = create_app(&app, "own schedule").await;
    let receiver = Receiver::start_on(vec![Reply::status(500); 10], &clock).await;
    create_endpoint(
        &app,
        &app_id,
        json!({"url": receiver.url, "retrySchedule": "50ms"}),
    )
    .await;
    let msg_id = app.send_message(&app_id, json!({})).await;
    let first_at = receiver.wait_for(1, WAIT).await[0].at;
    // The endpoint's schedule retries after 50 ms (jittered by up to a fifth), well before the
    // server's 200 ms.
    clock.advance_to(first_at + Duration::from_millis(100));
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() >= 2)
        .await;
    // The server's schedule (200ms,200ms) would allow three attempts; the endpoint's allows two.
    let an_hour_on = first_at + Duration::from_secs(3600);
    let why = format!("a third attempt after {attempts:?}");
    clock.pass_quietly(&receiver, an_hour_on, &why).await;
    assert_eq!(receiver.received().len(), 2);
}
