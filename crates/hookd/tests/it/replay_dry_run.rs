//! What a bulk replay's dry run says about deliveries it does not count: those still being
//! retried are not replayed (their retries are not used up yet), and the dry run says how many
//! there are, in the API and in `hookd replay --dry-run`.

use std::time::Duration;

use serde_json::json;

use crate::harness::{Receiver, Reply, TOKEN, TestApp};

#[tokio::test]
async fn a_dry_run_counts_matching_deliveries_that_are_still_retrying() {
    // One failed attempt, then an hour until the retry: the delivery stays pending.
    let app = TestApp::spawn_with(|config| config.retry_schedule = "1h".parse().unwrap()).await;
    let receiver = Receiver::start(vec![Reply::status(500)]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let (status, message) = app
        .post(
            &format!("/app/{app_id}/msg"),
            json!({"eventType": "invoice.paid", "payload": {"n": 1}}),
        )
        .await;
    assert_eq!(status, 202, "{message}");
    let msg_id = message["id"].as_str().unwrap().to_owned();
    app.wait_for_attempts(&app_id, &msg_id, Duration::from_secs(10), |attempts| {
        !attempts.is_empty()
    })
    .await;
    let since = message["timestamp"].as_str().unwrap().to_owned();

    let (status, counted) = app
        .post(
            &format!("/app/{app_id}/replay"),
            json!({"since": since, "dryRun": true}),
        )
        .await;
    assert_eq!(
        (status, counted),
        (200, json!({"count": 0, "stillRetrying": 1}))
    );

    let server = app.url("").trim_end_matches("/api/v1").to_owned();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["replay", "--app", &app_id, "--since", &since, "--dry-run"])
            .env("HOOKD_SERVER", server)
            .env("HOOKD_ADMIN_TOKEN", TOKEN)
            .output()
            .expect("running hookd")
    })
    .await
    .unwrap();
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "0 deliveries match\n\
         1 more is still being retried and is not counted: a replay takes it once its retries \
         are used up\n"
    );
}
