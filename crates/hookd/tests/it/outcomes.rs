//! What an attempt records and refuses, end to end: receivers that answer badly get failure codes
//! of their own (and count against the circuit breaker).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::TestApp;

const WAIT: Duration = Duration::from_secs(20);

/// A receiver on loopback that answers every request with `200 OK` and the first bytes of a body
/// it never finishes, and keeps every connection open. It records the raw request heads.
struct StallingReceiver {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
}

impl StallingReceiver {
    async fn start() -> StallingReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 4096];
                    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => head.extend_from_slice(&buffer[..read]),
                        }
                    }
                    recorded
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let answer = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial";
                    let _ = stream.write_all(answer.as_bytes()).await;
                    // Hold the connection open, silent, until hookd gives up on it.
                    let _ = stream.read(&mut buffer).await;
                });
            }
        });
        StallingReceiver { url, requests }
    }

    fn request_count(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

#[tokio::test]
async fn a_2xx_whose_body_never_finishes_fails_and_trips_the_breaker() {
    let app = TestApp::spawn_with(|config| {
        config.delivery_timeout = Duration::from_millis(300);
        config.retry_schedule = "100ms,100ms,100ms".parse().unwrap();
    })
    .await;
    let receiver = StallingReceiver::start().await;
    let (status, created) = app.post("/app", json!({"name": "stalling"})).await;
    assert_eq!(status, 201, "{created}");
    let app_id = created["id"].as_str().unwrap().to_owned();
    // One attempt at a time, so the fifth failure is recorded before a sixth request can start.
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "maxInFlight": 1}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let mut msg_ids = Vec::new();
    for n in 0..10 {
        msg_ids.push(app.send_message(&app_id, json!({"n": n})).await);
    }

    let attempts = app
        .wait_for_attempts(&app_id, &msg_ids[0], WAIT, |attempts| !attempts.is_empty())
        .await;
    let first = &attempts[attempts.len() - 1];
    assert_eq!(first["status"], 2, "{first}");
    assert_eq!(first["failureCode"], "body_timeout", "{first}");
    assert_eq!(first["responseStatusCode"], 200, "{first}");
    assert_eq!(first["response"], "partial", "{first}");

    // Five failures in a row open the circuit: the endpoint rests 5 s, so no sixth request
    // comes for a while, although every message still has attempts left.
    let deadline = tokio::time::Instant::now() + WAIT;
    while receiver.request_count() < 5 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "fewer than 5 requests"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        receiver.request_count(),
        5,
        "requests while the circuit was open"
    );
}
