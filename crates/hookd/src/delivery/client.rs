//! The one outbound HTTP client. Every request hookd sends to a receiver goes through
//! [`DeliveryClient::send`], which owns the timeout, the refusal to use proxies or follow
//! redirects, the bounded read of the response body, and the SSRF guard. The guard sits where it
//! is sound: IP literals are checked before sending, and hostnames are resolved once by our own
//! resolver, every address is checked, and the connection is made only to those checked
//! addresses, so a DNS answer that changes between check and connect (DNS rebinding) cannot
//! redirect a delivery. This module must not sign payloads, decide retries or record attempts;
//! it sends one prepared request and reports what happened.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::outcome::{AttemptOutcome, FailureCode, classify_status};
use super::ssrf::{BlockedAddress, TargetPolicy, check_ip, check_url};

/// How the client talks to receivers.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The limit for one whole attempt: connecting, sending and reading the response.
    pub timeout: Duration,
    pub policy: TargetPolicy,
    /// How many bytes of the response body are kept; the rest is never read.
    pub max_response_body: usize,
    pub user_agent: String,
}

/// Turns a hostname into IP addresses. Injectable so that tests can point names at loopback
/// without touching DNS.
pub trait Resolver: Send + Sync + 'static {
    fn resolve(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemResolver;

/// One request, ready to send: the caller has already signed it and set its headers, including
/// `content-type`. It is always sent with `POST`.
#[derive(Debug, Clone)]
pub struct OutboundRequest {
    pub url: url::Url,
    /// Header names and values, in order; a repeated name is sent repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What happened when a request was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    pub outcome: AttemptOutcome,
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// From just before sending until the response body prefix was read or the attempt failed.
    pub duration: Duration,
    /// The start of the response body, decoded as lossy UTF-8 and at most `max_response_body`
    /// bytes long.
    pub response_body_prefix: String,
}

/// The client could not be built (for example, the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("failed to build the outbound HTTP client")]
pub struct ClientBuildError(#[from] reqwest::Error);

/// Sends deliveries. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct DeliveryClient {
    http: reqwest::Client,
    config: Arc<ClientConfig>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            timeout: Duration::from_secs(15),
            policy: TargetPolicy::default(),
            max_response_body: 4096,
            user_agent: concat!("hookd/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str) -> BoxFuture<'static, io::Result<Vec<IpAddr>>> {
        let host = host.to_owned();
        async move {
            let addresses = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addresses.map(|address| address.ip()).collect())
        }
        .boxed()
    }
}

impl DeliveryClient {
    /// A client that resolves names with `resolver` (in production, [`SystemResolver`]).
    /// Connections go only to the addresses it returns, and only after each of them has passed
    /// the SSRF guard.
    pub fn new(
        config: ClientConfig,
        resolver: Arc<dyn Resolver>,
    ) -> Result<Self, ClientBuildError> {
        let guarded_resolver = GuardedResolver {
            resolver,
            allow_private: config.policy.allow_private,
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // Proxies from the environment would connect on our behalf to addresses the guard
            // never saw.
            .no_proxy()
            .https_only(config.policy.https_only)
            .timeout(config.timeout)
            .user_agent(config.user_agent.as_str())
            .dns_resolver(Arc::new(guarded_resolver))
            .build()?;
        Ok(DeliveryClient {
            http,
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends `request` once and classifies the result. Never fails: every problem is an outcome.
    pub async fn send(&self, request: OutboundRequest) -> SendReport {
        let started = Instant::now();
        let host = request.url.host_str().unwrap_or_default().to_owned();
        // reqwest does not consult the resolver for IP literals, so they are checked here, before
        // any connection is attempted.
        if let Err(rejection) = check_url(&request.url, &self.config.policy) {
            let code = if rejection.is_ssrf() {
                FailureCode::SsrfBlocked
            } else {
                FailureCode::InvalidUrl
            };
            tracing::debug!(host, failure_code = %code, error = %rejection, "delivery target refused");
            return SendReport::without_response(code, started);
        }
        let headers = match header_map(&request.headers) {
            Ok(headers) => headers,
            Err(error) => {
                tracing::debug!(host, error = %error, "delivery request has an invalid header");
                return SendReport::without_response(FailureCode::Other, started);
            }
        };
        let sent = self
            .http
            .post(request.url)
            .headers(headers)
            .body(request.body)
            .send()
            .await;
        match sent {
            Ok(response) => self.read_response(response, started).await,
            Err(error) => {
                let code = classify_send_error(&error);
                // The URL may carry secrets in its query string, so it stays out of the log.
                let error = error.without_url();
                tracing::debug!(host, failure_code = %code, error = %SourceChain(&error), "delivery attempt failed");
                SendReport::without_response(code, started)
            }
        }
    }

    async fn read_response(&self, mut response: reqwest::Response, started: Instant) -> SendReport {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok());
        let outcome = classify_status(status, retry_after, SystemTime::now());
        let response_body_prefix =
            read_body_prefix(&mut response, self.config.max_response_body).await;
        SendReport {
            outcome,
            status: Some(status),
            duration: started.elapsed(),
            response_body_prefix,
        }
    }
}

impl SendReport {
    /// The report for an attempt that was given up before it reached the client, such as a
    /// message whose payload is gone. `detail` is a short reason for the endpoint's owner; it is
    /// kept where a response body would be, since no receiver answered.
    pub fn not_sent(code: FailureCode, detail: &str) -> Self {
        SendReport {
            outcome: AttemptOutcome::failed_without_response(code),
            status: None,
            duration: Duration::ZERO,
            response_body_prefix: detail.to_owned(),
        }
    }

    fn without_response(code: FailureCode, started: Instant) -> Self {
        SendReport {
            outcome: AttemptOutcome::failed_without_response(code),
            status: None,
            duration: started.elapsed(),
            response_body_prefix: String::new(),
        }
    }
}

/// A header the caller supplied that HTTP cannot carry. Only the name is kept: values may be
/// secrets.
#[derive(Debug, thiserror::Error)]
#[error("header {name:?} has an invalid name or value")]
struct InvalidHeader {
    name: String,
}

fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, InvalidHeader> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let invalid = || InvalidHeader { name: name.clone() };
        let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let header_value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

/// The resolver reqwest calls for every hostname: it asks the injected [`Resolver`] once, refuses
/// the whole host if any answer is blocked, and hands reqwest exactly the checked addresses.
struct GuardedResolver {
    resolver: Arc<dyn Resolver>,
    allow_private: bool,
}

/// The resolver's refusal, found again by [`classify_send_error`] in reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to a blocked address")]
struct BlockedHost {
    host: String,
    #[source]
    blocked: BlockedAddress,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.resolver.resolve(&host);
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addresses = lookup.await?;
            let checked = checked_socket_addresses(&host, addresses, allow_private)?;
            let checked: reqwest::dns::Addrs = Box::new(checked.into_iter());
            Ok(checked)
        })
    }
}

/// Checks every resolved address (unless private targets are allowed) and turns them into the
/// socket addresses reqwest connects to; port 0 tells reqwest to use the URL's port.
fn checked_socket_addresses(
    host: &str,
    addresses: Vec<IpAddr>,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, Box<dyn StdError + Send + Sync>> {
    if addresses.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, "the host has no addresses").into());
    }
    if !allow_private {
        for address in &addresses {
            check_ip(*address).map_err(|blocked| BlockedHost {
                host: host.to_owned(),
                blocked,
            })?;
        }
    }
    Ok(addresses
        .into_iter()
        .map(|address| SocketAddr::new(address, 0))
        .collect())
}

/// Reads at most `limit` bytes of the body, one chunk at a time, and stops there: a receiver that
/// answers with a huge or endless body costs us no more than `limit` bytes (plus one chunk).
async fn read_body_prefix(response: &mut reqwest::Response, limit: usize) -> String {
    let mut prefix = Vec::new();
    while prefix.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = limit - prefix.len();
                prefix.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) => break,
            // The status already decided the outcome; a body cut short only shortens the prefix.
            Err(error) => {
                tracing::debug!(error = %SourceChain(&error.without_url()), "response body read failed");
                break;
            }
        }
    }
    lossy_prefix(&prefix, limit)
}

/// Decodes `bytes` as lossy UTF-8 and keeps at most `limit` bytes of the text, cutting at a
/// character boundary. Replacement characters are longer than the bytes they replace, so the
/// text is bounded again after decoding.
fn lossy_prefix(bytes: &[u8], limit: usize) -> String {
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > limit {
        let mut end = limit;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn classify_send_error(error: &reqwest::Error) -> FailureCode {
    if find_source::<BlockedHost>(error).is_some() {
        FailureCode::SsrfBlocked
    } else if error.is_timeout() {
        FailureCode::Timeout
    } else if is_tls_failure(error) {
        FailureCode::Tls
    } else if error.is_connect() {
        FailureCode::Connect
    } else if error.is_builder() {
        FailureCode::InvalidUrl
    } else if find_source::<io::Error>(error).is_some() {
        FailureCode::Io
    } else {
        FailureCode::Other
    }
}

fn is_tls_failure(error: &reqwest::Error) -> bool {
    find_source::<rustls::Error>(error).is_some()
}

/// The first error of type `E` in the chain that starts at `error`.
///
/// `io::Error::source` skips the error it wraps and returns that error's source instead, so the
/// walk steps into an `io::Error` through `get_ref`; that is where the TLS and resolver errors sit.
fn find_source<'a, E: StdError + 'static>(error: &'a (dyn StdError + 'static)) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(candidate) = current {
        if let Some(found) = candidate.downcast_ref::<E>() {
            return Some(found);
        }
        current = match candidate.downcast_ref::<io::Error>() {
            Some(io_error) => match io_error.get_ref() {
                Some(inner) => Some(inner as &(dyn StdError + 'static)),
                None => candidate.source(),
            },
            None => candidate.source(),
        };
    }
    None
}

/// Displays an error followed by its sources, for logs.
struct SourceChain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for SourceChain<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(formatter, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

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

    async fn serve_connection(
        mut stream: TcpStream,
        reply: Reply,
        requests: Arc<Mutex<Vec<String>>>,
    ) {
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
            LoopbackReceiver::spawn(Reply::Respond(http_response("302 Found", &location, "")))
                .await;
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
        let receiver =
            LoopbackReceiver::spawn(Reply::Blurt(b"HTTP/1.1 400 Bad Request\r\n\r\n")).await;
        let port = receiver.address.port();
        let url = url::Url::parse(&format!("https://127.0.0.1:{port}/")).expect("test URL");
        let report = client(config(true)).send(json_post(url)).await;

        assert_eq!(report.outcome, failed(FailureCode::Tls, None));
        assert_eq!(receiver.accepted(), 1);
    }

    #[tokio::test]
    async fn a_private_ip_literal_is_refused_before_connecting() {
        let receiver =
            LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
        let guarded = client(config(false));
        for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost"] {
            let report = guarded.send(json_post(receiver.url(host, "/"))).await;
            assert_eq!(
                report.outcome,
                failed(FailureCode::SsrfBlocked, None),
                "{host}"
            );
        }
        assert_eq!(receiver.accepted(), 0);
    }

    #[tokio::test]
    async fn an_unusable_url_is_refused_before_connecting() {
        let receiver =
            LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
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
        }
        assert_eq!(receiver.accepted(), 0);
    }

    #[tokio::test]
    async fn an_invalid_header_is_refused_before_connecting() {
        let receiver =
            LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
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
        let receiver =
            LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
        let report = client(config(false))
            .send(json_post(receiver.url("rebind.test", "/")))
            .await;

        assert_eq!(report.outcome, failed(FailureCode::SsrfBlocked, None));
        assert_eq!(receiver.accepted(), 0);
    }

    /// "rebind.test" exists only in the injected resolver, so reaching the receiver proves the
    /// client connects to the addresses that resolver returned and looks nothing up again.
    #[tokio::test]
    async fn connections_go_to_the_addresses_the_resolver_returned() {
        let receiver =
            LoopbackReceiver::spawn(Reply::Respond(http_response("200 OK", "", ""))).await;
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
    fn resolved_addresses_are_refused_if_any_one_is_blocked() {
        let public = IpAddr::from([8, 8, 8, 8]);
        let private = IpAddr::from([10, 0, 0, 1]);
        let cases = [
            (vec![public], false, Some(vec![public])),
            (vec![public, private], false, None),
            (vec![private, public], false, None),
            (vec![public, private], true, Some(vec![public, private])),
            (vec![], true, None),
        ];
        for (addresses, allow_private, expected) in cases {
            let checked =
                checked_socket_addresses("example.test", addresses.clone(), allow_private);
            let checked = checked.ok().map(|socket_addresses| {
                socket_addresses
                    .iter()
                    .map(SocketAddr::ip)
                    .collect::<Vec<_>>()
            });
            assert_eq!(
                checked, expected,
                "{addresses:?}, allow_private: {allow_private}"
            );
        }
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
}
