//! Tests of `client`, kept beside it so the module itself stays readable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// What the loopback receiver does with each connection.
#[derive(Clone)]
enum Reply {
    /// Reads the request, then writes these bytes and closes.
    Respond(String),
    /// Reads the request and then never answers.
    Hang,
    /// Writes these bytes as soon as the connection opens, without reading anything.
    Blurt(&'static [u8]),
    /// Reads the request, writes these bytes, then keeps the connection open and silent.
    RespondAndStall(String),
    /// Reads the request, then resets the connection (TCP RST) without answering.
    Reset,
}

/// A receiver on 127.0.0.1 that counts the connections it accepts and keeps each request's
/// raw text.
struct LoopbackReceiver {
    address: SocketAddr,
    accepted: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl LoopbackReceiver {
    async fn spawn(reply: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let receiver = LoopbackReceiver {
            address: listener.local_addr().expect("local address"),
            accepted: Arc::new(AtomicUsize::new(0)),
            requests: Arc::new(Mutex::new(Vec::new())),
        };
        let (accepted, requests) = (receiver.accepted.clone(), receiver.requests.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                accepted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_connection(stream, reply.clone(), requests.clone()));
            }
        });
        receiver
    }

    fn url(&self, host: &str, path: &str) -> url::Url {
        let port = self.address.port();
        url::Url::parse(&format!("http://{host}:{port}{path}")).expect("test URL")
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("requests lock").clone()
    }
}

async fn serve_connection(mut stream: TcpStream, reply: Reply, requests: Arc<Mutex<Vec<String>>>) {
    if let Reply::Blurt(bytes) = reply {
        let _ = stream.write_all(bytes).await;
        return;
    }
    let Ok(request) = read_request(&mut stream).await else {
        return;
    };
    requests.lock().expect("requests lock").push(request);
    match reply {
        Reply::Respond(response) => {
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        }
        Reply::Hang => std::future::pending::<()>().await,
        Reply::RespondAndStall(response) => {
            let _ = stream.write_all(response.as_bytes()).await;
            std::future::pending::<()>().await
        }
        Reply::Reset => {
            // A zero linger time makes closing send RST instead of FIN.
            stream.set_zero_linger().expect("set SO_LINGER to zero");
            drop(stream);
        }
        Reply::Blurt(_) => unreachable!("handled above"),
    }
}

/// Reads one request: the head up to the blank line, then `content-length` bytes of body.
async fn read_request(stream: &mut TcpStream) -> io::Result<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let head_end = received
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .map(|position| position + 4);
        if let Some(head_end) = head_end {
            let head = String::from_utf8_lossy(&received[..head_end]).to_lowercase();
            let body_length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if received.len() >= head_end + body_length {
                return Ok(String::from_utf8_lossy(&received).into_owned());
            }
        }
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        received.extend_from_slice(&buffer[..read]);
    }
}

fn http_response(status_line: &str, extra_headers: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status_line}\r\ncontent-length: {}\r\nconnection: close\r\n{extra_headers}\r\n{body}",
        body.len()
    )
}

/// Answers from a fixed table; names not in it do not exist.
struct TableResolver(HashMap<&'static str, Vec<IpAddr>>);

impl Resolver for TableResolver {
    fn resolve(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let answer = self
            .0
            .get(host)
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such test host"));
        async move { answer }.boxed()
    }
}

fn loopback_resolver() -> Arc<dyn Resolver> {
    let loopback = IpAddr::from([127, 0, 0, 1]);
    Arc::new(TableResolver(HashMap::from([(
        "rebind.test",
        vec![loopback],
    )])))
}

fn config(allow_private: bool) -> ClientConfig {
    ClientConfig {
        timeout: Duration::from_secs(5),
        policy: TargetPolicy {
            allow_private,
            https_only: false,
        },
        ..ClientConfig::default()
    }
}

fn client(config: ClientConfig) -> DeliveryClient {
    DeliveryClient::new(config, loopback_resolver()).expect("client builds")
}

fn json_post(url: url::Url) -> OutboundRequest {
    let headers = [
        ("content-type", "application/json"),
        ("webhook-id", "msg_test"),
        ("x-team", "a"),
        ("x-team", "b"),
    ];
    OutboundRequest {
        method: HttpMethod::Post,
        url,
        headers: headers
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .to_vec(),
        body: Bytes::from_static(br#"{"hello":"world"}"#),
    }
}

fn failed(code: FailureCode, status: Option<u16>) -> AttemptOutcome {
    AttemptOutcome::Failed {
        code,
        status,
        retry_after: None,
    }
}

#[tokio::test]
async fn a_2xx_answer_is_delivered_and_the_request_is_sent_as_given() {
    let receiver =
        LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", "thanks"))).await;
    let report = client(config(true))
        .send(json_post(receiver.url("127.0.0.1", "/hooks?team=1")))
        .await;

    assert_eq!(report.outcome, AttemptOutcome::Delivered { status: 200 });
    assert_eq!(report.status, Some(200));
    assert_eq!(report.response_body_prefix, "thanks");
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert!(
        request.starts_with("POST /hooks?team=1 HTTP/1.1\r\n"),
        "{request}"
    );
    assert!(
        request.contains("content-type: application/json\r\n"),
        "{request}"
    );
    assert!(request.contains("webhook-id: msg_test\r\n"), "{request}");
    assert!(request.contains("x-team: a\r\nx-team: b\r\n"), "{request}");
    assert!(request.contains("user-agent: hookd/"), "{request}");
    assert!(
        request.ends_with("\r\n\r\n{\"hello\":\"world\"}"),
        "{request}"
    );
}

#[tokio::test]
async fn an_error_status_fails_and_only_a_prefix_of_the_body_is_kept() {
    let long_body = "x".repeat(100_000);
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response(
        "500 Internal Server Error",
        "",
        &long_body,
    )))
    .await;
    let config = ClientConfig {
        max_response_body: 16,
        ..config(true)
    };
    let report = client(config)
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::HttpStatus, Some(500)));
    assert_eq!(report.status, Some(500));
    assert_eq!(report.response_body_prefix, "x".repeat(16));
}

#[tokio::test]
async fn retry_after_is_reported() {
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response(
        "429 Too Many Requests",
        "retry-after: 120\r\n",
        "slow down",
    )))
    .await;
    let report = client(config(true))
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    let expected = AttemptOutcome::Failed {
        code: FailureCode::HttpStatus,
        status: Some(429),
        retry_after: Some(Duration::from_secs(120)),
    };
    assert_eq!(report.outcome, expected);
}

#[tokio::test]
async fn a_redirect_fails_and_is_not_followed() {
    let target = LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
    let location = format!("location: {}\r\n", target.url("127.0.0.1", "/elsewhere"));
    let receiver =
        LoopbackReceiver::spawn(Reply::Respond(http_response("302 Found", &location, ""))).await;
    let report = client(config(true))
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::Redirect, Some(302)));
    assert_eq!(receiver.accepted(), 1);
    assert_eq!(target.accepted(), 0);
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out() {
    let receiver = LoopbackReceiver::spawn(Reply::Hang).await;
    let config = ClientConfig {
        timeout: Duration::from_millis(300),
        ..config(true)
    };
    let report = client(config)
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::Timeout, None));
    assert!(report.duration >= Duration::from_millis(300), "{report:?}");
    assert!(report.duration < Duration::from_secs(3), "{report:?}");
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn a_2xx_whose_body_never_finishes_fails_with_body_timeout() {
    // The head promises 1000 bytes of body; only 7 ever come.
    let head = "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial";
    let receiver = LoopbackReceiver::spawn(Reply::RespondAndStall(head.to_owned())).await;
    let config = ClientConfig {
        timeout: Duration::from_millis(300),
        ..config(true)
    };
    let report = client(config)
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::BodyTimeout, Some(200)));
    assert_eq!(report.status, Some(200));
    assert_eq!(report.response_body_prefix, "partial");
}

#[tokio::test]
async fn a_chunked_2xx_body_that_never_ends_fails_with_body_timeout() {
    let head = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n";
    let receiver = LoopbackReceiver::spawn(Reply::RespondAndStall(head.to_owned())).await;
    let config = ClientConfig {
        timeout: Duration::from_millis(300),
        ..config(true)
    };
    let report = client(config)
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::BodyTimeout, Some(200)));
    assert_eq!(report.response_body_prefix, "ok");
}

#[tokio::test]
async fn a_response_with_100k_headers_is_response_headers_too_large() {
    let headers: String = (0..100_000)
        .map(|index| format!("x-h{index}: v\r\n"))
        .collect();
    let receiver =
        LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", &headers, ""))).await;
    let report = client(config(true))
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(
        report.outcome,
        failed(FailureCode::ResponseHeadersTooLarge, None)
    );
}

#[tokio::test]
async fn a_truncated_or_garbled_status_line_is_a_malformed_response() {
    for response in ["HTTP/1.1 20", "HTTP/1.1 2000 OK\r\n\r\n", "hello\r\n\r\n"] {
        let receiver = LoopbackReceiver::spawn(Reply::Respond(response.to_owned())).await;
        let report = client(config(true))
            .send(json_post(receiver.url("127.0.0.1", "/")))
            .await;

        assert_eq!(
            report.outcome,
            failed(FailureCode::MalformedResponse, None),
            "{response:?}"
        );
        assert_eq!(receiver.requests().len(), 1, "{response:?}");
    }
}

#[tokio::test]
async fn a_connection_reset_by_the_receiver_is_connection_reset() {
    let receiver = LoopbackReceiver::spawn(Reply::Reset).await;
    let report = client(config(true))
        .send(json_post(receiver.url("127.0.0.1", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::ConnectionReset, None));
    assert_eq!(receiver.requests().len(), 1);
}

#[tokio::test]
async fn a_closed_port_is_a_connect_failure() {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).expect("test URL");
    let report = client(config(true)).send(json_post(url)).await;

    assert_eq!(report.outcome, failed(FailureCode::Connect, None));
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_connect_failure() {
    let url = url::Url::parse("http://missing.test/").expect("test URL");
    let report = client(config(false)).send(json_post(url)).await;

    assert_eq!(report.outcome, failed(FailureCode::Connect, None));
}

#[tokio::test]
async fn a_failed_tls_handshake_is_a_tls_failure() {
    let receiver = LoopbackReceiver::spawn(Reply::Blurt(b"HTTP/1.1 400 Bad Request\r\n\r\n")).await;
    let port = receiver.address.port();
    let url = url::Url::parse(&format!("https://127.0.0.1:{port}/")).expect("test URL");
    let report = client(config(true)).send(json_post(url)).await;

    assert_eq!(report.outcome, failed(FailureCode::Tls, None));
    assert_eq!(receiver.accepted(), 1);
}

#[tokio::test]
async fn a_private_ip_literal_is_refused_before_connecting() {
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
    let guarded = client(config(false));
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost"] {
        let report = guarded.send(json_post(receiver.url(host, "/"))).await;
        assert_eq!(
            report.outcome,
            failed(FailureCode::SsrfBlocked, None),
            "{host}"
        );
        // The attempt's record explains the refusal and how to allow local targets.
        let refusal = &report.response_body_prefix;
        assert!(
            refusal.contains("is not an allowed delivery target")
                || refusal.contains("local hostname"),
            "{host}: {refusal}"
        );
        assert!(
            refusal.contains("--allow-private-targets"),
            "{host}: {refusal}"
        );
    }
    assert_eq!(receiver.accepted(), 0);
}

#[tokio::test]
async fn an_unusable_url_is_refused_before_connecting() {
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
    let port = receiver.address.port();
    let https_only = ClientConfig {
        policy: TargetPolicy {
            allow_private: true,
            https_only: true,
        },
        ..config(true)
    };
    let cases = [
        (
            config(true),
            format!("http://user:secret@127.0.0.1:{port}/"),
        ),
        (config(true), format!("ftp://127.0.0.1:{port}/")),
        (https_only, format!("http://127.0.0.1:{port}/")),
    ];
    for (config, url) in cases {
        let url = url::Url::parse(&url).expect("test URL");
        let report = client(config).send(json_post(url.clone())).await;
        assert_eq!(
            report.outcome,
            failed(FailureCode::InvalidUrl, None),
            "{url}"
        );
        assert!(!report.response_body_prefix.is_empty(), "{url}");
    }
    assert_eq!(receiver.accepted(), 0);
}

#[tokio::test]
async fn an_invalid_header_is_refused_before_connecting() {
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
    let mut request = json_post(receiver.url("127.0.0.1", "/"));
    request
        .headers
        .push(("x-bad".to_owned(), "line\r\nbreak".to_owned()));
    let report = client(config(true)).send(request).await;

    assert_eq!(report.outcome, failed(FailureCode::Other, None));
    assert_eq!(receiver.accepted(), 0);
}

#[test]
fn a_request_that_was_never_sent_reports_its_reason() {
    let report = SendReport::not_sent(FailureCode::Other, "message content was expunged");
    assert_eq!(report.outcome, failed(FailureCode::Other, None));
    assert_eq!(report.status, None);
    assert_eq!(report.duration, Duration::ZERO);
    assert_eq!(report.response_body_prefix, "message content was expunged");
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused_before_connecting() {
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
    let report = client(config(false))
        .send(json_post(receiver.url("rebind.test", "/")))
        .await;

    assert_eq!(report.outcome, failed(FailureCode::SsrfBlocked, None));
    let refusal = &report.response_body_prefix;
    assert!(
        refusal.starts_with("rebind.test resolves to 127.0.0.1,"),
        "{refusal}"
    );
    assert!(refusal.contains("--allow-private-targets"), "{refusal}");
    assert_eq!(receiver.accepted(), 0);
}

/// "rebind.test" exists only in the injected resolver, so reaching the receiver proves the
/// client connects to the addresses that resolver returned and looks nothing up again.
#[tokio::test]
async fn connections_go_to_the_addresses_the_resolver_returned() {
    let receiver = LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
    let report = client(config(true))
        .send(json_post(receiver.url("rebind.test", "/")))
        .await;

    assert_eq!(report.outcome, AttemptOutcome::Delivered { status: 200 });
    assert_eq!(receiver.accepted(), 1);
    let request = &receiver.requests()[0];
    let expected_host = format!("host: rebind.test:{}\r\n", receiver.address.port());
    assert!(request.contains(&expected_host), "{request}");
}

#[test]
fn body_prefixes_are_bounded_in_bytes_and_cut_at_character_boundaries() {
    let cases: [(&[u8], usize, &str); 6] = [
        (b"hello", 10, "hello"),
        (b"hello", 3, "hel"),
        (b"hello", 0, ""),
        ("h\u{e9}llo".as_bytes(), 2, "h"),
        (b"ok\xff", 10, "ok\u{fffd}"),
        (b"\xff\xff", 4, "\u{fffd}"),
    ];
    for (bytes, limit, expected) in cases {
        assert_eq!(lossy_prefix(bytes, limit), expected, "{bytes:?}, {limit}");
    }
}
