//! `hookd listen` and the event streams it follows: the stream replays after `Last-Event-ID`
//! and then streams live messages; the command, run as a process, forwards each message byte
//! for byte to a loopback receiver and loses none across a server restart; a bad token is a
//! clear error; a client that does not read costs the server no growing buffer.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{HookdProcess, Receiver, TOKEN, TestApp, free_port};

/// A raw JSON payload with spacing that re-serialising would change.
const ODD_PAYLOAD: &str = "{ \"amount\" :  5,\n  \"note\": \"caf\\u00e9 \\n\" }";

/// Sends a message whose payload is `payload` exactly as written; returns its id.
async fn send_raw(base: &str, app_id: &str, payload: &str) -> String {
    let body = format!(r#"{{"eventType": "invoice.paid", "payload": {payload}}}"#);
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/app/{app_id}/msg"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let message: Value = response.json().await.unwrap();
    message["id"].as_str().unwrap().to_owned()
}

async fn create_app(base: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/app"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "listen"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let app: Value = response.json().await.unwrap();
    app["id"].as_str().unwrap().to_owned()
}

/// An open event stream, read event by event.
struct Events {
    response: reqwest::Response,
    unread: String,
}

impl Events {
    async fn open(url: &str, last_event_id: Option<&str>) -> Events {
        let mut request = reqwest::Client::new().get(url).bearer_auth(TOKEN);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Events {
            response,
            unread: String::new(),
        }
    }

    /// The next event's `id` and parsed `data`; comments are skipped.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.unread.find("\n\n") {
                let block: String = self.unread.drain(..end + 2).collect();
                let field = |name: &str| {
                    block
                        .lines()
                        .find_map(|line| line.strip_prefix(name))
                        .map(str::to_owned)
                };
                if let (Some(id), Some(data)) = (field("id: "), field("data: ")) {
                    assert_eq!(field("event: ").as_deref(), Some("message"));
                    return (id, serde_json::from_str(&data).unwrap());
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(20), self.response.chunk())
                .await
                .expect("an event within 20 s")
                .unwrap()
                .expect("the stream stays open");
            self.unread.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }
}

#[tokio::test]
async fn stream_replays_after_last_event_id_then_streams_live_messages() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app.base).await;
    let first = send_raw(&app.base, &app_id, r#"{"n":1}"#).await;
    let second = send_raw(&app.base, &app_id, ODD_PAYLOAD).await;
    let third = send_raw(&app.base, &app_id, r#"{"n":3}"#).await;
    let url = app.url(&format!("/app/{app_id}/stream"));

    let mut events = Events::open(&url, Some(&first)).await;
    let (id, data) = events.next().await;
    assert_eq!(id, second);
    assert_eq!(data["id"], second.as_str());
    assert_eq!(data["eventType"], "invoice.paid");
    assert_eq!(data["contentType"], "application/json");
    assert_eq!(data["payload"], ODD_PAYLOAD, "the payload's exact text");
    assert!(data["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events.next().await.0, third);
    let live = send_raw(&app.base, &app_id, r#"{"n":4}"#).await;
    assert_eq!(events.next().await.0, live);

    // `?after=` does the same; without a cursor only new messages come.
    let mut after = Events::open(&format!("{url}?after={second}"), None).await;
    assert_eq!(after.next().await.0, third);
    let mut fresh = Events::open(&url, None).await;
    let newest = send_raw(&app.base, &app_id, r#"{"n":5}"#).await;
    assert_eq!(fresh.next().await.0, newest);
}

#[tokio::test]
async fn stream_refusals_are_json_errors() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app.base).await;
    let http = reqwest::Client::new();
    let url = app.url(&format!("/app/{app_id}/stream"));
    let cases = [
        (url.clone(), "wrong-token", None, 401),
        (url.clone(), TOKEN, Some("msg_nosuchmessage"), 404),
        (app.url("/app/app_nosuchapp/stream"), TOKEN, None, 404),
        (
            format!("{}/ingest/api/v1/source/src_nosuch/stream", app.base),
            TOKEN,
            None,
            404,
        ),
    ];
    for (url, token, last_event_id, expected) in cases {
        let mut request = http.get(&url).bearer_auth(token);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), expected, "{url}");
        let body: Value = response.json().await.unwrap();
        assert!(body["detail"].is_string(), "{url}: {body}");
    }
}

#[tokio::test]
async fn source_stream_carries_what_the_ingest_url_received() {
    let app = TestApp::spawn().await;
    let response = reqwest::Client::new()
        .post(format!("{}/ingest/api/v1/source", app.base))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "dev", "type": "generic-webhook", "config": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let source: Value = response.json().await.unwrap();
    let source_id = source["id"].as_str().unwrap();
    let stream_url = format!("{}/ingest/api/v1/source/{source_id}/stream", app.base);
    let mut events = Events::open(&stream_url, None).await;
    let form = "a=1&b=two+words";
    let received = reqwest::Client::new()
        .post(source["ingestUrl"].as_str().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .unwrap();
    assert_eq!(received.status(), 200);
    let (_, data) = events.next().await;
    assert_eq!(data["payload"], form);
    assert_eq!(data["contentType"], "application/x-www-form-urlencoded");
}

/// A client that stops reading while far more than the feed holds is committed: the server
/// keeps no growing buffer for it (its memory stays flat while 40 MB of payloads pile up), and
/// when it reads again it gets every message once, in order, resynced from the store.
#[tokio::test]
async fn slow_client_costs_no_buffer_and_resyncs_from_the_store() {
    let data_dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = HookdProcess::start(port, &["--data-dir", data_dir.path().to_str().unwrap()]);
    let http = reqwest::Client::new();
    server.wait_ready(&http).await;
    let base = format!("http://127.0.0.1:{port}");
    let app_id = create_app(&base).await;
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "GET /api/v1/app/{app_id}/stream HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = resident_bytes(server.child.id());
    let filler = "x".repeat(40_000);
    let mut sent = Vec::new();
    for n in 0..1000 {
        let payload = format!(r#"{{"n":{n},"filler":"{filler}"}}"#);
        sent.push(send_raw(&base, &app_id, &payload).await);
    }
    let grown = resident_bytes(server.child.id()).saturating_sub(before);
    assert!(
        grown < 20_000_000,
        "the server grew by {grown} bytes for a client that reads nothing"
    );
    let mut seen = Vec::new();
    let mut unread = Vec::new();
    let mut buffer = vec![0u8; 1 << 16];
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen.len() < sent.len() {
        assert!(
            Instant::now() < deadline,
            "got {} of {}",
            seen.len(),
            sent.len()
        );
        let read = tokio::time::timeout(Duration::from_secs(20), stalled.read(&mut buffer))
            .await
            .expect("the stream keeps coming")
            .unwrap();
        assert!(read > 0, "the server closed the stream");
        unread.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&unread).into_owned();
        let complete = text.rfind('\n').map_or(0, |end| end + 1);
        seen.extend(
            text[..complete]
                .lines()
                .filter_map(|line| line.strip_prefix("id: "))
                .map(str::to_owned),
        );
        unread.drain(..text[..complete].len());
    }
    assert_eq!(seen, sent);
}

fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .unwrap();
    kib * 1024
}

/// `hookd listen` as a child process, with its stdout lines collected.
struct ListenProcess {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl ListenProcess {
    fn start(args: &[&str]) -> ListenProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookd"))
            .arg("listen")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        ListenProcess { child, lines }
    }

    fn output(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    async fn wait_for_line(&self, what: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(line) = self.output().into_iter().find(|line| line.contains(what)) {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "no line with {what:?} in {:#?}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn count_lines(&self, what: &str) -> usize {
        self.output()
            .iter()
            .filter(|line| line.contains(what))
            .count()
    }
}

impl Drop for ListenProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn listen_forwards_every_message_once_in_order_across_a_server_restart() {
    let data_dir = tempfile::tempdir().unwrap();
    let data = data_dir.path().to_str().unwrap().to_owned();
    let port = free_port();
    let http = reqwest::Client::new();
    let mut server = HookdProcess::start(port, &["--data-dir", &data]);
    server.wait_ready(&http).await;
    let base = format!("http://127.0.0.1:{port}");
    let app_id = create_app(&base).await;
    let before_listen = send_raw(&base, &app_id, r#"{"n":0}"#).await;
    let receiver = Receiver::start(Vec::new()).await;
    let listen = ListenProcess::start(&[
        "--server",
        &base,
        "--token",
        TOKEN,
        "--app",
        &app_id,
        "--forward-to",
        &receiver.url,
        "--after",
        &before_listen,
    ]);
    let secret_line = listen
        .wait_for_line("signing secret", Duration::from_secs(30))
        .await;
    let secret = secret_line
        .split_whitespace()
        .find(|word| word.starts_with("whsec_"))
        .unwrap()
        .to_owned();
    listen
        .wait_for_line("connected", Duration::from_secs(30))
        .await;
    let mut sent = vec![send_raw(&base, &app_id, ODD_PAYLOAD).await];
    sent.push(send_raw(&base, &app_id, r#"{"n":2}"#).await);
    receiver.wait_for(2, Duration::from_secs(20)).await;

    // hookd dies mid-stream; listen keeps trying; messages arrive before it is back.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    listen
        .wait_for_line("reconnecting", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server = HookdProcess::start(port, &["--data-dir", &data]);
    server.wait_ready(&http).await;
    for n in 3..8 {
        sent.push(send_raw(&base, &app_id, &format!(r#"{{"n":{n}}}"#)).await);
    }
    let received = receiver.wait_for(sent.len(), Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|request| request.header("webhook-id").to_owned())
        .collect();
    assert_eq!(received_ids, sent, "every message once, in order");
    assert_eq!(&received[0].body[..], ODD_PAYLOAD.as_bytes());
    assert_eq!(received[0].header("content-type"), "application/json");
    crate::harness::verify_signature(&received[0], &secret);
    for id in &sent {
        let line = listen.wait_for_line(id, Duration::from_secs(5)).await;
        assert!(
            line.contains("invoice.paid") && line.contains("-> 200 ("),
            "{line}"
        );
    }
    // Ctrl-C ends it cleanly.
    let interrupted = Command::new("kill")
        .args(["-INT", &listen.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    listen
        .wait_for_line("stopped", Duration::from_secs(10))
        .await;
    let mut listen = listen;
    let deadline = Instant::now() + Duration::from_secs(10);
    let exit = loop {
        if let Some(exit) = listen.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "listen did not exit on Ctrl-C");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(exit.success(), "{exit:?}");
    drop(server);
}

#[tokio::test]
async fn listen_reports_an_unreachable_target_retries_and_skips() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app.base).await;
    let nobody = format!("http://127.0.0.1:{}/hook", free_port());
    let listen = ListenProcess::start(&[
        "--server",
        &app.base,
        "--token",
        TOKEN,
        "--app",
        &app_id,
        "--forward-to",
        &nobody,
        "--attempts",
        "2",
    ]);
    listen
        .wait_for_line("connected", Duration::from_secs(30))
        .await;
    let id = send_raw(&app.base, &app_id, r#"{"n":1}"#).await;
    let retry = listen
        .wait_for_line("retry 1/1", Duration::from_secs(20))
        .await;
    assert!(
        retry.contains(&id) && retry.contains("connection refused"),
        "{retry}"
    );
    let skipped = listen
        .wait_for_line("skipped after 2 attempts", Duration::from_secs(20))
        .await;
    assert!(skipped.contains(&id), "{skipped}");
    assert_eq!(listen.count_lines("skipped"), 1);
}

#[tokio::test]
async fn listen_with_a_bad_token_exits_with_a_clear_error() {
    let app = TestApp::spawn().await;
    let app_id = create_app(&app.base).await;
    let mut listen = ListenProcess::start(&[
        "--server",
        &app.base,
        "--token",
        "wrong-token",
        "--app",
        &app_id,
        "--forward-to",
        "http://127.0.0.1:9/hook",
    ]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = listen.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "listen kept running: {:#?}",
            listen.output()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(!status.success());
    let error = listen.wait_for_line("hookd:", Duration::from_secs(5)).await;
    assert!(error.contains("401"), "{error}");
}

/// A stream is a request in progress until its body ends: a quiet stream outlives the idle
/// timeout, which closes only connections that are waiting for their next request.
#[tokio::test]
async fn a_quiet_stream_outlives_the_idle_timeout() {
    let app = TestApp::spawn_with(|config| {
        config.connection_limits.idle_timeout = Duration::from_millis(300);
    })
    .await;
    let app_id = create_app(&app.base).await;
    let mut events = Events::open(&app.url(&format!("/app/{app_id}/stream")), None).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let id = send_raw(&app.base, &app_id, r#"{"n":1}"#).await;
    assert_eq!(events.next().await.0, id);
}

/// Shutting down ends open streams, so that their connections do not hold the shutdown until
/// its deadline.
#[tokio::test]
async fn shutdown_ends_open_streams_at_once() {
    let mut app = TestApp::spawn_with(|config| {
        config.connection_limits.shutdown_timeout = Duration::from_secs(20);
    })
    .await;
    let app_id = create_app(&app.base).await;
    let mut events = Events::open(&app.url(&format!("/app/{app_id}/stream")), None).await;
    let started = Instant::now();
    app.stop().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    let ended = tokio::time::timeout(Duration::from_secs(5), events.response.chunk())
        .await
        .expect("the stream ends");
    assert!(!matches!(ended, Ok(Some(_))), "{ended:?}");
}
