//! Readiness (`/api/v1/health/ready`): ready while the database answers and the delivery loop
//! goes round; 503 naming the check that failed otherwise. The failing states are made on
//! PostgreSQL by holding a lock another session took: a database that does not answer
//! hookd's readiness query in time, and a delivery loop stuck in a claim.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{TestApp, TestClient};
use crate::postgres_schema::TestSchema;

const WAIT: Duration = Duration::from_secs(20);

impl TestClient {
    async fn readiness(&self) -> (u16, Value) {
        let response = self
            .http
            .get(self.url("/health/ready"))
            .send()
            .await
            .expect("hookd answers");
        let status = response.status().as_u16();
        (status, response.json().await.expect("a JSON body"))
    }

    /// Asks until the answer has `status`, or fails with the last answer.
    async fn readiness_becomes(&self, status: u16) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let (found, body) = self.readiness().await;
            if found == status {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "readiness stayed {found}: {body}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test]
async fn a_running_server_is_ready_and_liveness_asks_nothing() {
    let app = TestApp::spawn().await;
    let body = app.readiness_becomes(200).await;
    assert_eq!(body["status"], "ready", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["checks"]["engine"], "ok", "{body}");
    assert!(
        body["checks"]["engineHeartbeatAgeMs"].as_u64().is_some(),
        "{body}"
    );
    let (status, body) = app.get("/health").await;
    assert_eq!((status, body), (200, serde_json::json!({"status": "ok"})));
}

#[tokio::test]
async fn postgres_readiness_names_a_stuck_database_and_a_stalled_engine() {
    let schema = TestSchema::create("postgres_readiness").await;
    let url = schema.url.clone();
    let app = TestApp::spawn_with(move |config| {
        config.database_url = Some(url);
        config.engine_stall_timeout = Duration::from_secs(1);
    })
    .await;
    app.readiness_becomes(200).await;
    let mut blocker = schema.connect().await;

    // The readiness query reads `setting`: locked, it does not answer in time.
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE setting IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let body = app.readiness_becomes(503).await;
    assert_eq!(body["code"], "not_ready", "{body}");
    assert_eq!(body["checks"]["database"], "failed", "{body}");
    assert_eq!(body["checks"]["engine"], "ok", "{body}");
    assert!(
        body["detail"].as_str().unwrap().starts_with("database"),
        "{body}"
    );
    lock.rollback().await.unwrap();
    app.readiness_becomes(200).await;

    // Every claim reads `endpoint_queue`: locked, the delivery loop stops going round.
    let lock = blocker.transaction().await.unwrap();
    lock.batch_execute("LOCK TABLE endpoint_queue IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let body = app.readiness_becomes(503).await;
    assert_eq!(body["checks"]["engine"], "stalled", "{body}");
    assert_eq!(body["checks"]["database"], "ok", "{body}");
    assert_eq!(body["detail"], "engine: stalled", "{body}");
    assert!(
        body["checks"]["engineHeartbeatAgeMs"].as_u64().unwrap() > 1000,
        "{body}"
    );
    lock.rollback().await.unwrap();
    let body = app.readiness_becomes(200).await;
    assert_eq!(body["checks"]["engine"], "ok", "{body}");
}
