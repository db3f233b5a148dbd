//! What an attempt sends, records and refuses, end to end: receivers that answer badly get failure
//! codes of their own (and count against the circuit breaker); the record shows hookd's own
//! headers in clear and the endpoint's redacted; an unsignable request is never sent; SSRF
//! refusals say how to allow a local target.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use hookd::app::Dependencies;
use hookd::clock::SystemClock;
use hookd::engine::client::Resolver;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::{Receiver, TestApp};

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

/// Header names that carry credentials, in the spellings receivers use. An endpoint's custom
/// header of any of these names must never show its value in the attempt's record.
const CREDENTIAL_HEADER_NAMES: [&str; 21] = [
    "Authorization",
    "Proxy-Authorization",
    "Cookie",
    "X-Api-Key",
    "ApiKey",
    "X-Auth-Token",
    "X-Client-Secret",
    "X-Password",
    "X-Session-Token",
    "X-Api_Key",
    "X-Auth",
    "X-Access-Key",
    "Authentication",
    "Private-Key",
    "X-Jwt",
    "X-Session-Id",
    "X-Credentials",
    "X-Passwd",
    "X-Passphrase",
    "X-Hmac-Signature",
    "X-Sig",
];

/// The value of the first header called `name` (case-insensitively) in an attempt's `list`.
fn recorded_header(attempt: &Value, list: &str, name: &str) -> Option<String> {
    attempt[list].as_array()?.iter().find_map(|pair| {
        let found = pair[0].as_str()?.eq_ignore_ascii_case(name);
        found.then(|| pair[1].as_str().unwrap().to_owned())
    })
}

async fn create_app(app: &TestApp, name: &str) -> String {
    let (status, created) = app.post("/app", json!({"name": name})).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_attempt_records_endpoint_headers_redacted_and_hookds_own_in_clear() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let app_id = create_app(&app, "redaction").await;
    let mut custom: HashMap<String, String> = CREDENTIAL_HEADER_NAMES
        .iter()
        .enumerate()
        .map(|(index, name)| (name.to_string(), format!("credential-value-{index}")))
        .collect();
    custom.insert("X-Team".to_owned(), "credential-value-team".to_owned());
    custom.insert("Accept".to_owned(), "application/json".to_owned());
    let (status, endpoint) = app
        .post(
            &format!("/app/{app_id}/endpoint"),
            json!({"url": receiver.url, "headers": custom}),
        )
        .await;
    assert_eq!(status, 201, "{endpoint}");
    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    let attempt = &attempts[0];
    let received = &receiver.wait_for(1, WAIT).await[0];

    for name in CREDENTIAL_HEADER_NAMES.iter().chain(&["X-Team"]) {
        assert_eq!(
            recorded_header(attempt, "requestHeaders", name).as_deref(),
            Some("[redacted]"),
            "{name}"
        );
        // Redaction is for the record only: the receiver gets the real value.
        assert_eq!(received.header(name), custom[*name], "{name}");
    }
    assert!(
        !attempt.to_string().contains("credential-value-"),
        "{attempt}"
    );
    assert_eq!(
        recorded_header(attempt, "requestHeaders", "accept").as_deref(),
        Some("application/json")
    );
    for own in [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
        "content-type",
    ] {
        assert_eq!(
            recorded_header(attempt, "requestHeaders", own).as_deref(),
            Some(received.header(own)),
            "{own}"
        );
    }
}

#[tokio::test]
async fn the_user_agent_names_the_node_and_is_recorded() {
    // The test configuration sets no --node-id, so hookd makes one up.
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, _) = app.app_with_endpoint(&receiver.url).await;
    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| attempts.len() == 1)
        .await;
    let attempt = &attempts[0];
    let received = &receiver.wait_for(1, WAIT).await[0];

    let node_id = attempt["nodeId"].as_str().expect("nodeId");
    let expected = format!("hookd/{} (node {node_id})", env!("CARGO_PKG_VERSION"));
    assert_eq!(received.header("user-agent"), expected);
    assert_eq!(
        recorded_header(attempt, "requestHeaders", "user-agent").as_deref(),
        Some(expected.as_str())
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_signed_is_not_sent() {
    let mut data_dir: Option<PathBuf> = None;
    let app = TestApp::spawn_with(|config| {
        data_dir = Some(config.data_dir.clone());
        config.retry_schedule = "".parse().unwrap();
    })
    .await;
    let receiver = Receiver::start(vec![]).await;
    let (app_id, endpoint_id) = app.app_with_endpoint(&receiver.url).await;
    // A secret the API would never accept, as a damaged or hand-edited database might hold.
    let database = rusqlite::Connection::open(data_dir.unwrap().join("hookd.db")).unwrap();
    database.busy_timeout(Duration::from_secs(10)).unwrap();
    let changed = database
        .execute(
            "UPDATE endpoint_secret SET key = 'whsec_not base64!' WHERE endpoint_id = ?1",
            [&endpoint_id],
        )
        .unwrap();
    assert_eq!(changed, 1);

    let msg_id = app.send_message(&app_id, json!({})).await;
    let attempts = app
        .wait_for_attempts(&app_id, &msg_id, WAIT, |attempts| !attempts.is_empty())
        .await;
    let attempt = &attempts[0];
    assert_eq!(attempt["status"], 2, "{attempt}");
    assert_eq!(attempt["failureCode"], "signing_failed", "{attempt}");
    assert!(
        attempt["response"].as_str().unwrap().contains("secret"),
        "{attempt}"
    );
    // The attempt is recorded only after the request would have been sent.
    assert!(
        receiver.received().is_empty(),
        "an unsigned request was sent"
    );
    // Reading the secret back parses it too: the damaged row is an error, never shown.
    let (status, body) = app
        .get(&format!("/app/{app_id}/endpoint/{endpoint_id}/secret"))
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(!body.to_string().contains("not base64"), "{body}");
}

/// Answers from a fixed table; names not in it do not exist.
struct TableResolver(HashMap<&'static str, Vec<IpAddr>>);

impl Resolver for TableResolver {
    fn resolve(&self, host: &str) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let answer =
            self.0.get(host).cloned().ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "no such test host")
            });
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn ssrf_refusals_at_endpoint_creation_say_how_to_allow_local_targets() {
    let resolver = TableResolver(HashMap::from([(
        "private.test",
        vec![IpAddr::from([10, 0, 0, 1])],
    )]));
    let deps = Dependencies {
        clock: Arc::new(SystemClock),
        resolver: Arc::new(resolver),
    };
    let app = TestApp::spawn_with_deps(|config| config.allow_private_targets = false, deps).await;
    let app_id = create_app(&app, "ssrf hints").await;
    let cases = [
        ("http://127.0.0.1:9000/hook", true),
        ("http://[::1]:9000/hook", true),
        ("http://localhost:9000/hook", true),
        ("http://private.test/hook", true),
        // Not about where the URL points, so no hint.
        ("http://user:secret@example.com/hook", false),
    ];
    for (url, hinted) in cases {
        let (status, body) = app
            .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, 422, "{url}: {body}");
        let message = body["detail"][0]["msg"].as_str().unwrap();
        assert_eq!(
            message.contains("--allow-private-targets"),
            hinted,
            "{url}: {message}"
        );
    }
}
