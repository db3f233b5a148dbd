//! How hookd bounds what unauthenticated clients can hold: idle and slow connections, slow
//! bodies, sockets past the open-file limit, request bodies in flight, and a shutdown that a
//! half-sent request cannot stall.
//!
//! Each test runs the hookd binary as a process, so that its open-file limit, its signals and its
//! exit can be observed. Settings are passed as environment variables; every time bound asserted
//! is a multiple of a timeout the same test configured.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{TOKEN, free_port};

/// A hookd process with its log in a file. Killed when dropped.
struct ServerProcess {
    child: Child,
    port: u16,
    base: String,
    log_path: PathBuf,
    _data_dir: tempfile::TempDir,
}

impl ServerProcess {
    /// Starts hookd with `settings` as environment variables, under `open_file_limit` (soft
    /// and hard) when given, and waits until it answers.
    async fn start(settings: &[(&str, &str)], open_file_limit: Option<u64>) -> ServerProcess {
        let data_dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log_path = data_dir.path().join("hookd.log");
        let mut command = match open_file_limit {
            Some(limit) => {
                let mut command = Command::new("prlimit");
                command.arg(format!("--nofile={limit}:{limit}")).arg("--");
                command.arg(env!("CARGO_BIN_EXE_hookd"));
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_hookd")),
        };
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(data_dir.path().join("data"))
            .env("HOOKD_ADMIN_TOKEN", TOKEN)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(settings.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_path).unwrap());
        let server = ServerProcess {
            child: command.spawn().expect("hookd starts"),
            port,
            base: format!("http://127.0.0.1:{port}/api/v1"),
            log_path,
            _data_dir: data_dir,
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = http.get(format!("{}/health", server.base)).send().await
                && response.status().is_success()
            {
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("hookd did not become ready:\n{}", server.log());
    }

    fn log(&self) -> String {
        let mut log = String::new();
        std::fs::File::open(&self.log_path)
            .unwrap()
            .read_to_string(&mut log)
            .unwrap();
        log
    }

    async fn connect(&self) -> TcpStream {
        TcpStream::connect(("127.0.0.1", self.port)).await.unwrap()
    }

    fn send_sigterm(&self) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits up to `bound` for the process to exit.
    async fn wait_for_exit(&mut self, bound: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        None
    }

    /// Waits up to `bound` for `text` to appear in the log.
    async fn wait_for_log(&self, text: &str, bound: Duration) {
        let deadline = Instant::now() + bound;
        while Instant::now() < deadline {
            if self.log().contains(text) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the log never said {text:?}:\n{}", self.log());
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the server closes the connection (or resets it), up to `bound`; returns what
/// arrived, or `None` if the connection was still open at the bound.
async fn read_until_closed(stream: &mut TcpStream, bound: Duration) -> Option<String> {
    let mut received = Vec::new();
    let closed = tokio::time::timeout(bound, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(read) => received.extend_from_slice(&buffer[..read]),
            }
        }
    })
    .await;
    closed
        .ok()
        .map(|()| String::from_utf8_lossy(&received).into_owned())
}

/// A request head for a message of `content_length` bytes, without its body.
fn message_head(app_id: &str, content_length: usize) -> String {
    format!(
        "POST /api/v1/app/{app_id}/msg HTTP/1.1\r\nHost: hookd\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {content_length}\r\n\r\n"
    )
}

async fn create_app(http: &reqwest::Client, base: &str) -> String {
    let created: serde_json::Value = http
        .post(format!("{base}/app"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "connections"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_idle_connection_is_closed_after_the_idle_timeout() {
    let server = ServerProcess::start(
        &[
            ("HOOKD_IDLE_TIMEOUT", "1s"),
            ("HOOKD_HEADER_READ_TIMEOUT", "60s"),
        ],
        None,
    )
    .await;
    let opened = Instant::now();
    let mut idle = server.connect().await;
    let closed = read_until_closed(&mut idle, Duration::from_secs(30)).await;
    assert_eq!(closed.as_deref(), Some(""), "closed without an answer");
    // Closed by the idle timer (1 s), not the header timer (60 s).
    assert!(opened.elapsed() >= Duration::from_secs(1));
    assert!(opened.elapsed() < Duration::from_secs(30));
}

#[tokio::test]
async fn slowloris_connections_are_closed_after_the_header_timeout() {
    const CONNECTIONS: usize = 20;
    let server = ServerProcess::start(
        &[
            ("HOOKD_HEADER_READ_TIMEOUT", "1s"),
            ("HOOKD_IDLE_TIMEOUT", "60s"),
        ],
        None,
    )
    .await;
    // Each byte comes 100 ms after the last, so the idle timer never runs out; the whole head
    // would take 60 s, sixty times the header timeout.
    let head = format!(
        "GET /api/v1/health HTTP/1.1\r\nHost: hookd\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(600)
    );
    let drips = (0..CONNECTIONS).map(|_| {
        let head = head.clone();
        let connecting = server.connect();
        async move {
            let mut stream = connecting.await;
            let opened = Instant::now();
            for byte in head.as_bytes() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return Some(opened.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                let mut probe = [0u8; 1];
                if let Ok(Ok(0) | Err(_)) =
                    tokio::time::timeout(Duration::ZERO, stream.read(&mut probe)).await
                {
                    return Some(opened.elapsed());
                }
            }
            None
        }
    });
    for closed_after in futures::future::join_all(drips).await {
        let closed_after = closed_after.expect("the slow connection was never closed");
        assert!(closed_after >= Duration::from_secs(1), "{closed_after:?}");
        assert!(closed_after < Duration::from_secs(30), "{closed_after:?}");
    }
    // The server still answers.
    let health = reqwest::get(format!("{}/health", server.base))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_slow_body_is_answered_408_after_the_body_timeout() {
    let server = ServerProcess::start(&[("HOOKD_BODY_READ_TIMEOUT", "1s")], None).await;
    let http = reqwest::Client::new();
    let app_id = create_app(&http, &server.base).await;
    let mut slow = server.connect().await;
    let opened = Instant::now();
    slow.write_all(message_head(&app_id, 1000).as_bytes())
        .await
        .unwrap();
    slow.write_all(br#"{"eventType": "slow.body", "#)
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, Duration::from_secs(30))
        .await
        .expect("the slow body was never given up on");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""code":"request_timeout""#), "{answer}");
    assert!(opened.elapsed() >= Duration::from_secs(1));
    // Nothing was accepted from it.
    let listed: serde_json::Value = http
        .get(format!("{}/app/{app_id}/msg", server.base))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"], json!([]));
}

#[tokio::test]
async fn idle_sockets_past_the_open_file_limit_do_not_block_requests() {
    const OPEN_FILE_LIMIT: u64 = 256;
    const IDLE_SOCKETS: usize = 400;
    // Both timers are long, so only making room at the connection cap can let a request in.
    let idle_timeout = Duration::from_secs(60);
    let server = ServerProcess::start(
        &[
            ("HOOKD_IDLE_TIMEOUT", "60s"),
            ("HOOKD_HEADER_READ_TIMEOUT", "60s"),
            ("HOOKD_MAX_IN_FLIGHT", "8"),
        ],
        Some(OPEN_FILE_LIMIT),
    )
    .await;
    let mut idle_sockets = Vec::with_capacity(IDLE_SOCKETS);
    for _ in 0..IDLE_SOCKETS {
        idle_sockets.push(server.connect().await);
    }
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let started = Instant::now();
        let answered = tokio::time::timeout(
            idle_timeout / 4,
            http.get(format!("{}/health", server.base)).send(),
        )
        .await;
        let response = answered
            .unwrap_or_else(|_| panic!("no answer while idle sockets are held:\n{}", server.log()))
            .unwrap();
        assert_eq!(response.status(), 200);
        assert!(started.elapsed() < idle_timeout / 4);
        // The idle sockets reconnect, as an attacker's would.
        idle_sockets.clear();
        for _ in 0..IDLE_SOCKETS {
            idle_sockets.push(server.connect().await);
        }
    }
    let log = server.log();
    assert!(!log.contains("Too many open files"), "{log}");
    assert!(log.contains("connection cap reached"), "{log}");
}

/// Opens a message request whose head and first body bytes are sent and whose body never
/// finishes; returns once hookd has had time to read the head, so the request is in progress.
async fn start_a_half_sent_request(server: &ServerProcess) -> TcpStream {
    let http = reqwest::Client::new();
    let app_id = create_app(&http, &server.base).await;
    let mut half_sent = server.connect().await;
    half_sent
        .write_all(message_head(&app_id, 1000).as_bytes())
        .await
        .unwrap();
    half_sent.write_all(b"{\"eventType\": ").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    half_sent
}

#[tokio::test]
async fn sigterm_with_a_half_sent_request_exits_within_the_shutdown_timeout() {
    let shutdown_timeout = Duration::from_secs(2);
    let mut server = ServerProcess::start(
        &[
            ("HOOKD_SHUTDOWN_TIMEOUT", "2s"),
            ("HOOKD_BODY_READ_TIMEOUT", "600s"),
        ],
        None,
    )
    .await;
    let _half_sent = start_a_half_sent_request(&server).await;
    let signalled = Instant::now();
    server.send_sigterm();
    server
        .wait_for_log("waiting for HTTP connections", shutdown_timeout * 15)
        .await;
    assert!(
        TcpStream::connect(("127.0.0.1", server.port))
            .await
            .is_err(),
        "no longer accepting while it waits"
    );
    let status = server
        .wait_for_exit(shutdown_timeout * 15)
        .await
        .unwrap_or_else(|| panic!("hookd did not exit:\n{}", server.log()));
    assert!(status.success(), "{status}");
    assert!(signalled.elapsed() >= shutdown_timeout, "it waited");
    let log = server.log();
    assert!(log.contains("requests_in_progress=1"), "{log}");
    assert!(log.contains("shutdown deadline reached"), "{log}");
}

#[tokio::test]
async fn a_second_sigterm_exits_at_once() {
    let shutdown_timeout = Duration::from_secs(600);
    let mut server = ServerProcess::start(
        &[
            ("HOOKD_SHUTDOWN_TIMEOUT", "600s"),
            ("HOOKD_BODY_READ_TIMEOUT", "600s"),
        ],
        None,
    )
    .await;
    let _half_sent = start_a_half_sent_request(&server).await;
    server.send_sigterm();
    server
        .wait_for_log("shutting down", Duration::from_secs(30))
        .await;
    let second_signal = Instant::now();
    server.send_sigterm();
    let status = server
        .wait_for_exit(shutdown_timeout / 10)
        .await
        .unwrap_or_else(|| panic!("a second SIGTERM did not exit:\n{}", server.log()));
    assert!(
        !status.success(),
        "an interrupted shutdown is not a clean exit"
    );
    assert!(second_signal.elapsed() < shutdown_timeout / 10);
}

#[tokio::test]
async fn bodies_past_the_in_flight_budget_are_refused_with_retry_after() {
    const MESSAGE_BYTES: usize = 1024 * 1024;
    const HELD: usize = 4;
    // Room for four 1 MiB bodies at once, and not for a fifth.
    let server = ServerProcess::start(
        &[
            ("HOOKD_MAX_IN_FLIGHT_BODY_BYTES", "4194304"),
            ("HOOKD_BODY_READ_TIMEOUT", "600s"),
        ],
        None,
    )
    .await;
    let http = reqwest::Client::new();
    let app_id = create_app(&http, &server.base).await;
    let body_of = |n: usize| {
        let filler = "x".repeat(MESSAGE_BYTES - 200);
        let body = json!({"eventType": "big.body", "payload": {"n": n, "filler": filler}});
        serde_json::to_vec(&body).unwrap()
    };

    // Four requests hold the whole budget by sending only half of their bodies.
    let mut held = Vec::new();
    for n in 0..HELD {
        let body = body_of(n);
        let mut stream = server.connect().await;
        stream
            .write_all(message_head(&app_id, body.len()).as_bytes())
            .await
            .unwrap();
        stream.write_all(&body[..body.len() / 2]).await.unwrap();
        held.push((stream, body));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = http
        .post(format!("{}/app/{app_id}/msg", server.base))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body_of(99))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let refused_body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused_body["code"], "overloaded");

    // The held requests complete and are accepted whole.
    for (stream, body) in &mut held {
        stream.write_all(&body[body.len() / 2..]).await.unwrap();
    }
    let mut accepted = Vec::new();
    for (mut stream, body) in held {
        let mut answer = vec![0u8; 64 * 1024];
        let read = stream.read(&mut answer).await.unwrap();
        let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
        assert!(answer.starts_with("HTTP/1.1 202"), "{answer}");
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
        accepted.push(sent["payload"]["n"].as_u64().unwrap());
    }
    // A burst of clients that retry after 503 gets every message in, each one intact.
    let burst = (10..26).map(|n| {
        let http = http.clone();
        let url = format!("{}/app/{app_id}/msg", server.base);
        let body = body_of(n);
        async move {
            loop {
                let response = http
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .unwrap();
                match response.status().as_u16() {
                    202 => {
                        let created: serde_json::Value = response.json().await.unwrap();
                        return created["id"].as_str().unwrap().to_owned();
                    }
                    503 => {
                        let pause: u64 = response.headers()["retry-after"]
                            .to_str()
                            .unwrap()
                            .parse()
                            .unwrap();
                        tokio::time::sleep(Duration::from_secs(pause)).await;
                    }
                    other => panic!("unexpected status {other}"),
                }
            }
        }
    });
    let burst_ids = futures::future::join_all(burst).await;
    for (offset, msg_id) in burst_ids.iter().enumerate() {
        let stored: serde_json::Value = http
            .get(format!("{}/app/{app_id}/msg/{msg_id}", server.base))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&body_of(offset + 10)).unwrap();
        assert_eq!(stored["payload"], expected["payload"], "message {msg_id}");
    }
    assert_eq!(accepted.len(), HELD);
}

/// Reads one answer's head from `stream`; `None` if the connection closed first.
async fn read_answer_head(stream: &mut TcpStream) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    while !received.windows(4).any(|window| window == b"\r\n\r\n") {
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
            Err(_) => panic!(
                "no answer within 30 s; received {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    Some(String::from_utf8_lossy(&received).to_ascii_lowercase())
}

/// hyper keeps a connection only once the request's body was read; an answer given without
/// reading it must say `Connection: close`, or a pooling client reuses a socket hyper is
/// closing and its next request fails without an answer.
#[tokio::test]
async fn an_answer_that_left_the_body_unread_closes_the_connection_and_says_so() {
    let app = crate::harness::TestApp::spawn().await;
    let app_id = create_app(&app.http, &app.url("")).await;
    let address = app.base.trim_start_matches("http://").to_owned();
    let body = r#"{"eventType":"a.b","payload":{}}"#;
    // (what, request head sent without its body, whether the answer must close)
    let cases = [
        (
            "unknown route",
            format!(
                "POST /api/v1/no-such-route HTTP/1.1\r\nHost: hookd\r\nAuthorization: Bearer {TOKEN}\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            true,
        ),
        (
            "no token",
            format!(
                "POST /api/v1/app/{app_id}/msg HTTP/1.1\r\nHost: hookd\r\n\
                 Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            ),
            true,
        ),
    ];
    for (what, head, closes) in cases {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_answer_head(&mut stream)
            .await
            .unwrap_or_else(|| panic!("{what}: closed without an answer"));
        assert_eq!(
            answer.contains("\r\nconnection: close\r\n"),
            closes,
            "{what}: {answer}"
        );
    }

    // A request whose body was read keeps its connection: a second request on it is answered.
    let mut stream = TcpStream::connect(&address).await.unwrap();
    for round in 0..2 {
        let request = format!("{}{body}", message_head(&app_id, body.len()));
        stream.write_all(request.as_bytes()).await.unwrap();
        let answer = read_answer_head(&mut stream)
            .await
            .unwrap_or_else(|| panic!("round {round}: closed without an answer"));
        assert!(
            answer.starts_with("http/1.1 202"),
            "round {round}: {answer}"
        );
        assert!(
            !answer.contains("connection: close"),
            "round {round}: {answer}"
        );
        // The answer's body, so the next head is read from its start.
        let length: usize = answer
            .split("\r\ncontent-length: ")
            .nth(1)
            .and_then(|rest| rest.split("\r\n").next())
            .and_then(|value| value.trim().parse().ok())
            .expect("a content-length");
        let already = answer.split_once("\r\n\r\n").unwrap().1.len();
        let mut rest = vec![0u8; length - already];
        stream.read_exact(&mut rest).await.unwrap();
    }
}
