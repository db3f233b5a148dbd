//! End-to-end delivery: signing, retries, redirects, timeouts, filtering, resend, rotation.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Receiver, Reply, TestApp, TestClock, verify_signature};

const WAIT: Duration = Duration::from_secs(15);

fn statuses(attempts: &[serde_json::Value]) -> Vec<i64> {
    // Attempts are listed newest first; return them oldest first.
    let mut statuses: Vec<i64> = attempts
        .iter()
        .map(|attempt| attempt["status"].as_i64().unwrap())
        .collect();
    statuses.reverse();
    statuses
}

#[tokio::test]
async fn a_message_is_delivered_signed() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"amount": 42})).await;

    let received = receiver.wait_for(1, WAIT).await;
    let delivery = &received[0];
    assert_eq!(delivery.header("webhook-id"), msg_id);
    assert_eq!(delivery.header("svix-id"), msg_id);
    assert_eq!(delivery.header("content-type"), "application/json");
    let body: serde_json::Value = serde_json::from_slice(&delivery.body).unwrap();
    assert_eq!(body, json!({"amount": 42}));
    verify_signature(delivery, &app.endpoint_secret(&app_id, &endpoint_id).await);

    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    assert_eq!(attempts[0]["status"], 0);
    assert_eq!(attempts[0]["responseStatusCode"], 200);
    assert_eq!(attempts[0]["triggerType"], 0);
    assert_eq!(attempts[0]["endpointId"], endpoint_id.as_str());
}

/// Time is injected: each retry waits for the clock to pass the schedule's 200 ms (jittered).
#[tokio::test]
async fn failures_are_retried_with_the_same_webhook_id() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let receiver = Receiver::start_on(vec![Reply::status(500), Reply::status(500)], &clock).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"n": 1})).await;

    // The retry schedule (200ms, 200ms, each jittered by up to a fifth) is honoured: no attempt
    // follows another at once.
    let first_at = receiver.wait_for(1, WAIT).await[0].at;
    let early = first_at + Duration::from_millis(150);
    let why = "retried before 200 ms less its jitter";
    clock.pass_quietly(&receiver, early, why).await;
    clock.advance_to(first_at + Duration::from_millis(250));
    let second_at = receiver.wait_for(2, WAIT).await[1].at;
    clock.advance_to(second_at + Duration::from_millis(250));
    let received = receiver.wait_for(3, WAIT).await;
    let secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    for delivery in &received {
        assert_eq!(delivery.header("webhook-id"), msg_id);
        verify_signature(delivery, &secret);
    }
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 3)
        .await;
    assert_eq!(statuses(&attempts), vec![2, 2, 0]);
    for pair in received.windows(2) {
        assert!(pair[1].at - pair[0].at >= Duration::from_millis(150));
    }
}

/// Time is injected: after the last retry the clock runs on far past the schedule.
#[tokio::test]
async fn the_last_failure_gives_up() {
    let clock = TestClock::new();
    let app = TestApp::spawn_with_deps(|_| {}, clock.dependencies()).await;
    let receiver = Receiver::start_on(vec![Reply::status(503); 5], &clock).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({})).await;
    for count in 1..=3 {
        let last_at = receiver.wait_for(count, WAIT).await[count - 1].at;
        // Past the retry's 200 ms and its jitter (a fifth either way).
        clock.advance_to(last_at + Duration::from_millis(250));
    }
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 3)
        .await;
    assert_eq!(statuses(&attempts), vec![2, 2, 2]);
    // Schedule "200ms,200ms" allows three attempts in all; no fourth comes.
    let an_hour_on = clock.instant() + Duration::from_secs(3600);
    let why = "a fourth attempt";
    clock.pass_quietly(&receiver, an_hour_on, why).await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    let app = TestApp::spawn_with(|config| config.retry_schedule = "".parse().unwrap()).await;
    let target = Receiver::start(vec![]).await;
    let redirect = Reply {
        status: 302,
        delay: Duration::ZERO,
        headers: vec![("location", target.url.clone())],
    };
    let receiver = Receiver::start(vec![redirect]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    assert_eq!(attempts[0]["status"], 2);
    assert_eq!(attempts[0]["responseStatusCode"], 302);
    assert!(
        target.received().is_empty(),
        "the redirect target was called"
    );
}

#[tokio::test]
async fn a_slow_receiver_times_out() {
    let app = TestApp::spawn_with(|config| {
        config.delivery_timeout = Duration::from_secs(1);
        config.retry_schedule = "".parse().unwrap();
    })
    .await;
    let receiver = Receiver::start(vec![Reply::delayed(200, Duration::from_secs(3))]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    assert_eq!(attempts[0]["status"], 2);
    assert_eq!(attempts[0]["responseStatusCode"], 0);
    let duration = attempts[0]["responseDurationMs"].as_u64().unwrap();
    assert!((900..2900).contains(&duration), "took {duration} ms");
}

#[tokio::test]
async fn endpoints_receive_only_their_event_types_and_channels() {
    let app = TestApp::spawn().await;
    let invoices = Receiver::start(vec![]).await;
    let europe = Receiver::start(vec![]).await;
    let (status, created) = app.post("/app", json!({"name": "filters"})).await;
    assert_eq!(status, 201);
    let app_id = created["id"].as_str().unwrap();
    let (status, _) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": invoices.url, "filterTypes": ["invoice.paid"]}),
        )
        .await;
    assert_eq!(status, 201);
    let (status, _) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": europe.url, "channels": ["eu"]}),
        )
        .await;
    assert_eq!(status, 201);

    let send = |event_type: &'static str, channels: Vec<&'static str>| {
        let app = &app;
        async move {
            let (status, body) = app
                .post(
                    &format!("/app/{app_id}/msg"),
                    json!({"eventType": event_type, "payload": {}, "channels": channels}),
                )
                .await;
            assert_eq!(status, 202, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    };
    let paid = send("invoice.paid", vec![]).await;
    let created_eu = send("user.created", vec!["eu"]).await;
    let created_us = send("user.created", vec!["us"]).await;

    let invoice_ids: Vec<String> = invoices
        .wait_for(1, WAIT)
        .await
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    let europe_ids: Vec<String> = europe
        .wait_for(1, WAIT)
        .await
        .iter()
        .map(|r| r.header("webhook-id").to_owned())
        .collect();
    // Wait for the message that must reach nobody to have had its chance.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(invoice_ids, vec![paid]);
    assert_eq!(europe_ids, vec![created_eu]);
    assert!(
        !europe
            .received()
            .iter()
            .any(|r| r.header("webhook-id") == created_us)
    );
    assert_eq!(invoices.received().len() + europe.received().len(), 2);
}

#[tokio::test]
async fn resend_delivers_again_with_the_same_id() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({"x": 1})).await;
    receiver.wait_for(1, WAIT).await;

    let (status, body) = app
        .post(
            &format!("/app/{app_id}/msg/{msg_id}/endpoint/{endpoint_id}/resend"),
            json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let received = receiver.wait_for(2, WAIT).await;
    assert_eq!(received[1].header("webhook-id"), msg_id);
    verify_signature(
        &received[1],
        &app.endpoint_secret(&app_id, &endpoint_id).await,
    );
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 2)
        .await;
    assert_eq!(
        attempts[0]["triggerType"], 1,
        "newest attempt is the manual one"
    );
}

#[tokio::test]
async fn a_rotated_secret_signs_alongside_the_new_one_during_the_grace_period() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    let old_secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    let (status, body) = app
        .post(
            &format!("/app/{app_id}/endpoint/{endpoint_id}/secret/rotate"),
            json!({"gracePeriodSeconds": 3600}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let new_secret = app.endpoint_secret(&app_id, &endpoint_id).await;
    assert_ne!(old_secret, new_secret);

    app.send_message(&app_id, json!({})).await;
    let received = receiver.wait_for(1, WAIT).await;
    assert_eq!(
        received[0].header("webhook-signature").split(' ').count(),
        2
    );
    verify_signature(&received[0], &old_secret);
    verify_signature(&received[0], &new_secret);
}

#[tokio::test]
async fn a_repeated_event_id_creates_one_message() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let message = json!({"eventType": "a.b", "payload": {}, "eventId": "evt-1"});
    let (first, created) = app
        .post(&format!("/app/{app_id}/msg"), message.clone())
        .await;
    assert_eq!(first, 202, "{created}");
    let (second, _) = app.post(&format!("/app/{app_id}/msg"), message).await;
    assert_eq!(second, 409);
    let (_, list) = app.get(&format!("/app/{app_id}/msg")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    receiver.wait_for(1, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn private_targets_are_refused_when_the_guard_is_on() {
    let app = TestApp::spawn_with(|config| config.allow_private_targets = false).await;
    let (_, created) = app.post("/app", json!({"name": "guarded"})).await;
    let app_id = created["id"].as_str().unwrap();
    for url in [
        "http://127.0.0.1:9/hook",
        "http://10.0.0.1/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://localhost/hook",
    ] {
        let (status, body) = app
            .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        assert_eq!(body["detail"][0]["loc"], json!(["body", "url"]), "{body}");
    }
    let (_, list) = app.get(&format!("/app/{app_id}/endpoint")).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_attempt_finish_and_records_it() {
    let mut app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![Reply::delayed(200, Duration::from_millis(800))]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({})).await;
    receiver.wait_for(1, WAIT).await;

    // The receiver is still holding the request: stop now, then look from a fresh start.
    app.restart().await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| !attempts.is_empty())
        .await;
    assert_eq!(statuses(&attempts), vec![0]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "a finished delivery was sent again"
    );
}

#[tokio::test]
async fn an_attempt_records_what_was_sent_and_what_came_back() {
    let app = TestApp::spawn().await;
    let answer = Reply {
        status: 200,
        delay: Duration::ZERO,
        headers: vec![("x-receiver-trace", "trace-77".to_owned())],
    };
    let receiver = Receiver::start(vec![answer]).await;
    let (status, created) = app.post("/app", json!({"name": "details"})).await;
    assert_eq!(status, 201);
    let app_id = created["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "auth": {"type": "bearer", "token": "s3cr3t-t0k3n"}}),
        )
        .await;
    assert_eq!(status, 201);
    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    let attempt = &attempts[0];
    let header = |list: &str, name: &str| -> Option<String> {
        attempt[list].as_array()?.iter().find_map(|pair| {
            (pair[0].as_str()? == name).then(|| pair[1].as_str().unwrap().to_owned())
        })
    };
    assert_eq!(
        header("requestHeaders", "webhook-id").as_deref(),
        Some(msg_id.as_str())
    );
    assert_eq!(
        header("requestHeaders", "authorization").as_deref(),
        Some("[redacted]")
    );
    assert_eq!(
        header("responseHeaders", "x-receiver-trace").as_deref(),
        Some("trace-77")
    );
    assert!(attempt["nodeId"].is_string(), "{attempt}");
    assert!(!attempt.to_string().contains("s3cr3t-t0k3n"), "{attempt}");
}
