//! Hostile receivers: endpoints whose receivers accept the connection and never answer, trickle
//! their answer (or only its body) a byte at a time, answer `200` with a body of gigabytes, or answer with 100,000
//! headers, each next to a healthy endpoint in the same application receiving a stream of
//! messages. hookd (the real binary, so that its memory can be read from `/proc`) must deliver
//! every message to the healthy endpoint, record the hostile attempts with the right outcome,
//! stay up, and keep its memory bounded: it reads at most a 4 KiB prefix of any body and gives
//! up on a response head past hyper's limits, so no receiver can make it buffer.
//!
//! The figures are printed and written to `target/suite-figures/hostile-receivers.json`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;

use crate::harness::{HookdProcess, Receiver, TestClient, free_port, write_figures};

/// Messages sent to the application, one every `MESSAGE_INTERVAL`, while the attacks run.
const MESSAGES: usize = 30;
const MESSAGE_INTERVAL: Duration = Duration::from_millis(150);
/// Attempts each hostile endpoint must have recorded before its outcomes are checked.
const ATTEMPTS_CHECKED: usize = 5;
/// What a gigabyte answer declares.
const GIGABYTE_BODY: u64 = 4 << 30;
const HEADERS: usize = 100_000;
/// The memory bound: the peak resident set during the attacks stays within this of the
/// baseline measured after start-up and a few healthy deliveries. One gigabyte body or one
/// 100,000-header head (2.4 MB) kept per connection, over the dozens of attacks in flight,
/// would exceed it many times over; the allocator's normal growth under this load (a few MiB)
/// stays well inside it.
const RSS_ALLOWANCE: u64 = 64 << 20;
const DEADLINE: Duration = Duration::from_secs(90);

/// How a receiver misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hostility {
    /// Accepts the connection, reads the request, never writes a byte.
    NeverAnswers,
    /// Writes a valid `200` answer one byte every 300 ms.
    Trickles,
    /// Sends a `200` head at once, then its 100-byte body one byte every 300 ms.
    TricklesBody,
    /// Answers `200` with a `Content-Length` of 4 GiB and streams zeros until hookd hangs up.
    Gigabytes,
    /// Answers `200` with 100,000 headers.
    HundredThousandHeaders,
}

const HOSTILITIES: [Hostility; 5] = [
    Hostility::NeverAnswers,
    Hostility::Trickles,
    Hostility::TricklesBody,
    Hostility::Gigabytes,
    Hostility::HundredThousandHeaders,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_receivers_cost_hookd_neither_memory_nor_healthy_deliveries() {
    let started = Instant::now();
    let data_dir = tempfile::tempdir().unwrap();
    let hookd = HookdProcess::start(
        free_port(),
        &[
            "--data-dir",
            data_dir.path().to_str().unwrap(),
            "--allow-private-targets",
            "--delivery-timeout-secs",
            "2",
            "--retry-schedule",
            "500ms",
        ],
    );
    hookd.wait_ready(&reqwest::Client::new()).await;
    let client = hookd.client();

    // The baseline: hookd after start-up and a few deliveries to the healthy endpoint alone.
    let healthy = Receiver::start(Vec::new()).await;
    let (app_id, _) = client.app_with_endpoint(&healthy.url).await;
    for warm_up in 0..5 {
        client
            .send_message(&app_id, json!({"warm_up": warm_up}))
            .await;
    }
    healthy.wait_for(5, DEADLINE).await;
    let baseline = hookd.resident_bytes();

    let mut hostile = Vec::new();
    for hostility in HOSTILITIES {
        let receiver = HostileReceiver::start(hostility).await;
        let endpoint_id = create_endpoint(&client, &app_id, &receiver.url).await;
        hostile.push((receiver, endpoint_id));
    }

    let sampler = RssSampler::start(&hookd);
    let mut sent = Vec::new();
    for n in 0..MESSAGES {
        sent.push(client.send_message(&app_id, json!({"n": n})).await);
        tokio::time::sleep(MESSAGE_INTERVAL).await;
    }
    let received = healthy.wait_for(5 + MESSAGES, DEADLINE).await;
    let delivered: std::collections::HashSet<&str> = received
        .iter()
        .map(|request| request.header("webhook-id"))
        .collect();
    for msg_id in &sent {
        assert!(
            delivered.contains(msg_id.as_str()),
            "{msg_id} never reached the healthy endpoint"
        );
    }

    let mut outcomes = serde_json::Map::new();
    for (receiver, endpoint_id) in &hostile {
        let attempts = wait_for_attempts(&client, &app_id, endpoint_id).await;
        check_attempts(receiver.hostility, &attempts);
        outcomes.insert(
            format!("{:?}", receiver.hostility),
            json!({
                "attempts_recorded": attempts.len(),
                "failure_codes": attempts.iter().map(|a| a["failureCode"].clone()).collect::<Vec<_>>(),
                "connections": receiver.stats.connections.load(Ordering::SeqCst),
                "most_bytes_written_on_one_connection":
                    receiver.stats.most_bytes_written.load(Ordering::SeqCst),
            }),
        );
    }
    let after = hookd.resident_bytes();
    let peak = sampler.stop().await.max(after);

    assert!(!hookd.has_exited(), "hookd died under the attacks");
    let (status, health) = client.get("/health").await;
    assert_eq!(status, 200, "{health}");
    let gigabytes = &hostile[3].0;
    assert_eq!(gigabytes.hostility, Hostility::Gigabytes);
    let most_written = gigabytes.stats.most_bytes_written.load(Ordering::SeqCst);

    let figures = json!({
        "rss_baseline_bytes": baseline,
        "rss_peak_bytes": peak,
        "rss_after_bytes": after,
        "rss_allowance_bytes": RSS_ALLOWANCE,
        "healthy_messages": MESSAGES,
        "healthy_delivered": sent.len(),
        "hostile": outcomes,
        "seconds": started.elapsed().as_secs_f64(),
    });
    println!("hostile receivers figures: {figures:#}");
    write_figures("hostile-receivers.json", &figures);

    assert!(
        peak <= baseline + RSS_ALLOWANCE,
        "hookd's resident set grew from {baseline} to {peak} bytes under the attacks"
    );
    // Socket buffers on loopback hold a few MiB at most: more written on one connection would
    // mean hookd kept reading a body it does not need.
    assert!(
        most_written < 64 << 20,
        "hookd read {most_written} bytes of a gigabyte body"
    );
}

/// What each hostile endpoint's attempts must say.
fn check_attempts(hostility: Hostility, attempts: &[Value]) {
    for attempt in attempts {
        let code = attempt["failureCode"].as_str();
        match hostility {
            // No status line within the delivery timeout: the trickle needs 20 s for its head.
            Hostility::NeverAnswers | Hostility::Trickles => {
                assert_eq!(code, Some("timeout"), "{hostility:?}: {attempt}");
            }
            // A 200 whose body never arrives in time is not a delivery (it would otherwise
            // hold a connection and never trip the circuit breaker).
            Hostility::TricklesBody => {
                assert_eq!(code, Some("body_timeout"), "{hostility:?}: {attempt}");
            }
            // The receiver did say 200: the delivery counts, and only a 4 KiB prefix of the
            // body was read and kept.
            Hostility::Gigabytes => {
                assert_eq!(code, None, "{hostility:?}: {attempt}");
                assert_eq!(attempt["responseStatusCode"], 200, "{attempt}");
                let kept = attempt["response"].as_str().unwrap_or_default().len();
                assert!(kept <= 4096, "{kept} bytes of the body were kept");
            }
            Hostility::HundredThousandHeaders => {
                assert_eq!(
                    code,
                    Some("response_headers_too_large"),
                    "{hostility:?}: {attempt}"
                );
            }
        }
    }
}

async fn create_endpoint(client: &TestClient, app_id: &str, url: &str) -> String {
    let (status, endpoint) = client
        .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
        .await;
    assert_eq!(status, 201, "{endpoint}");
    endpoint["id"].as_str().unwrap().to_owned()
}

/// Waits until the endpoint has `ATTEMPTS_CHECKED` attempts recorded; returns them all.
async fn wait_for_attempts(client: &TestClient, app_id: &str, endpoint_id: &str) -> Vec<Value> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (status, page) = client
            .get(&format!(
                "/app/{app_id}/attempt/endpoint/{endpoint_id}?limit=250"
            ))
            .await;
        assert_eq!(status, 200, "{page}");
        let attempts = page["data"].as_array().cloned().unwrap_or_default();
        if attempts.len() >= ATTEMPTS_CHECKED {
            return attempts;
        }
        assert!(
            Instant::now() < deadline,
            "only {} attempts recorded at {endpoint_id}",
            attempts.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads hookd's resident set every 50 ms and keeps the largest.
struct RssSampler {
    stopping: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<u64>,
}

impl RssSampler {
    fn start(hookd: &HookdProcess) -> RssSampler {
        let stopping = Arc::new(AtomicBool::new(false));
        let status = format!("/proc/{}/status", hookd.child.id());
        let task = tokio::spawn({
            let stopping = Arc::clone(&stopping);
            async move {
                let mut peak = 0;
                while !stopping.load(Ordering::SeqCst) {
                    if let Ok(text) = std::fs::read_to_string(&status) {
                        peak = peak.max(crate::harness::resident_bytes_in(&text));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                peak
            }
        });
        RssSampler { stopping, task }
    }

    async fn stop(self) -> u64 {
        self.stopping.store(true, Ordering::SeqCst);
        self.task.await.expect("the sampler ends cleanly")
    }
}

/// A receiver on loopback that speaks just enough HTTP to misbehave.
struct HostileReceiver {
    url: String,
    hostility: Hostility,
    stats: Arc<Stats>,
    _task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Stats {
    connections: AtomicUsize,
    most_bytes_written: AtomicU64,
}

impl HostileReceiver {
    async fn start(hostility: Hostility) -> HostileReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let stats = Arc::new(Stats::default());
        let many_headers: Arc<[u8]> = many_headers_answer().into();
        let task = tokio::spawn({
            let stats = Arc::clone(&stats);
            async move {
                while let Ok((stream, _)) = listener.accept().await {
                    stats.connections.fetch_add(1, Ordering::SeqCst);
                    let (stats, many_headers) = (Arc::clone(&stats), Arc::clone(&many_headers));
                    tokio::spawn(async move {
                        let (mut reader, mut writer) = stream.into_split();
                        // The answer starts once the request's head is in, as a real
                        // receiver's would; the rest is read alongside it.
                        read_request_head(&mut reader).await;
                        let drained = tokio::spawn(drain(reader));
                        let written = match hostility {
                            Hostility::NeverAnswers => 0,
                            Hostility::Trickles => trickle(&mut writer, b"", TRICKLED).await,
                            Hostility::TricklesBody => {
                                trickle(&mut writer, TRICKLED_BODY_HEAD, &[b'.'; 100]).await
                            }
                            Hostility::Gigabytes => gigabytes(&mut writer).await,
                            Hostility::HundredThousandHeaders => {
                                write_counted(&mut writer, &many_headers).await
                            }
                        };
                        stats
                            .most_bytes_written
                            .fetch_max(written, Ordering::SeqCst);
                        // Hold the connection open until hookd hangs up.
                        let _ = drained.await;
                    });
                }
            }
        });
        HostileReceiver {
            url,
            hostility,
            stats,
            _task: task,
        }
    }
}

/// Reads until the end of a request head (or the connection's end).
async fn read_request_head(reader: &mut OwnedReadHalf) {
    let mut head = Vec::new();
    let mut buffer = [0; 4096];
    while !head.windows(4).any(|window| window == b"\r\n\r\n") {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => head.extend_from_slice(&buffer[..read]),
        }
    }
}

async fn drain(mut reader: OwnedReadHalf) {
    let mut buffer = [0; 4096];
    while let Ok(read) = reader.read(&mut buffer).await {
        if read == 0 {
            return;
        }
    }
}

const TRICKLED: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
const TRICKLED_BODY_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n";

/// `at_once`, then `trickled` one byte every 300 ms; the bytes written before hookd hung up.
async fn trickle(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    at_once: &[u8],
    trickled: &[u8],
) -> u64 {
    if writer.write_all(at_once).await.is_err() {
        return 0;
    }
    let mut written = at_once.len() as u64;
    for byte in trickled {
        if writer.write_all(&[*byte]).await.is_err() {
            break;
        }
        written += 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    written
}

/// `200` with a 4 GiB body of zeros, streamed from one 64 KiB buffer until hookd hangs up.
async fn gigabytes(writer: &mut tokio::net::tcp::OwnedWriteHalf) -> u64 {
    let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {GIGABYTE_BODY}\r\n\r\n");
    if writer.write_all(head.as_bytes()).await.is_err() {
        return 0;
    }
    let chunk = vec![0u8; 64 * 1024];
    let mut written = 0;
    while written < GIGABYTE_BODY {
        match writer.write(&chunk).await {
            Ok(0) | Err(_) => break,
            Ok(count) => written += count as u64,
        }
    }
    written
}

async fn write_counted(writer: &mut tokio::net::tcp::OwnedWriteHalf, bytes: &[u8]) -> u64 {
    let mut written = 0;
    for chunk in bytes.chunks(16 * 1024) {
        if writer.write_all(chunk).await.is_err() {
            break;
        }
        written += chunk.len() as u64;
    }
    written
}

/// `200` with `HEADERS` headers, about 2.4 MB of response head.
fn many_headers_answer() -> Vec<u8> {
    let mut answer = b"HTTP/1.1 200 OK\r\n".to_vec();
    for index in 0..HEADERS {
        answer.extend_from_slice(format!("x-hostile-{index:06}: value\r\n").as_bytes());
    }
    answer.extend_from_slice(b"content-length: 2\r\n\r\nok");
    answer
}
