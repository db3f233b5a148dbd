//! Test harness: `TestApp` runs hookd in-process on port 0 with its data in a temporary
//! directory; `Receiver` is a scripted webhook receiver on loopback that records every request
//! and answers with programmed statuses and delays.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hookd::app::{self, Dependencies, RunningServer};
use hookd::config::Config;
use serde_json::{Value, json};

mod clock;
mod load;
mod process;
pub use clock::TestClock;
pub use load::{Load, Targets};
pub use process::{HookdProcess, free_port, resident_bytes_in};

pub const TOKEN: &str = "test-admin-token";

/// A running hookd plus an HTTP client that speaks to it with the admin token.
pub struct TestApp {
    server: Option<RunningServer>,
    client: TestClient,
    config: Config,
    _data_dir: tempfile::TempDir,
}

/// Speaks to one hookd with the admin token. `TestApp` dereferences to one.
pub struct TestClient {
    pub base: String,
    pub http: reqwest::Client,
}

impl std::ops::Deref for TestApp {
    type Target = TestClient;

    fn deref(&self) -> &TestClient {
        &self.client
    }
}

impl TestApp {
    /// Starts hookd with test defaults: private targets allowed, fast retries.
    pub async fn spawn() -> TestApp {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with_deps(adjust, Dependencies::production()).await
    }

    /// Starts hookd with its own dependencies (an injected clock, a fake resolver, ...).
    pub async fn spawn_with_deps(adjust: impl FnOnce(&mut Config), deps: Dependencies) -> TestApp {
        let data_dir = tempfile::tempdir().expect("temporary data dir");
        let mut config = test_config(data_dir.path());
        adjust(&mut config);
        let server = app::start(config.clone(), deps)
            .await
            .expect("hookd starts");
        TestApp {
            client: TestApp::attach(&server),
            server: Some(server),
            config,
            _data_dir: data_dir,
        }
    }

    /// A client for a server the test started itself (with its own dependencies).
    pub fn attach(server: &RunningServer) -> TestClient {
        TestClient {
            base: format!("http://{}", server.local_addr()),
            http: reqwest::Client::new(),
        }
    }

    /// Stops hookd gracefully and starts it again on the same data directory.
    pub async fn restart(&mut self) {
        self.stop().await;
        let server = app::start(self.config.clone(), Dependencies::production())
            .await
            .expect("hookd restarts");
        self.client = TestApp::attach(&server);
        self.server = Some(server);
    }

    /// Stops hookd and starts it again on the same data directory with a changed
    /// configuration; the error if it does not start.
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<()> {
        self.stop().await;
        adjust(&mut self.config);
        let server = app::start(self.config.clone(), Dependencies::production()).await?;
        self.client = TestApp::attach(&server);
        self.server = Some(server);
        Ok(())
    }

    /// The data directory (SQLite's files live here).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    /// Stops hookd the way SIGTERM does, and waits until it has stopped.
    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await.expect("clean shutdown");
        }
    }
}

impl TestClient {
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.base)
    }

    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches hookd");
        let status = response.status().as_u16();
        let text = response.text().await.expect("response body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("non-JSON body: {text}"))
        };
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    /// Creates an application and an endpoint pointing at `url`; returns (app id, endpoint id).
    pub async fn app_with_endpoint(&self, url: &str) -> (String, String) {
        let (status, app) = self.post("/app", json!({"name": "test app"})).await;
        assert_eq!(status, 201, "{app}");
        let app_id = app["id"].as_str().unwrap().to_owned();
        let (status, endpoint) = self
            .post(&format!("/app/{app_id}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, 201, "{endpoint}");
        (app_id, endpoint["id"].as_str().unwrap().to_owned())
    }

    pub async fn send_message(&self, app_id: &str, payload: Value) -> String {
        let (status, message) = self
            .post(
                &format!("/app/{app_id}/msg"),
                json!({"eventType": "invoice.paid", "payload": payload}),
            )
            .await;
        assert_eq!(status, 202, "{message}");
        message["id"].as_str().unwrap().to_owned()
    }

    pub async fn endpoint_secret(&self, app_id: &str, endpoint_id: &str) -> String {
        let (status, secret) = self
            .get(&format!("/app/{app_id}/endpoint/{endpoint_id}/secret"))
            .await;
        assert_eq!(status, 200, "{secret}");
        secret["key"].as_str().unwrap().to_owned()
    }

    /// Polls the attempts of a message until `done` says so, or panics after `timeout`.
    pub async fn wait_for_attempts(
        &self,
        app_id: &str,
        msg_id: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, page) = self
                .get(&format!("/app/{app_id}/attempt/msg/{msg_id}"))
                .await;
            assert_eq!(status, 200, "{page}");
            let attempts = page["data"].as_array().cloned().unwrap_or_default();
            if done(&attempts) {
                return attempts;
            }
            assert!(
                Instant::now() < deadline,
                "attempts never settled: {attempts:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The configuration of a test server: `hookd serve`'s own defaults, parsed by the same flag
/// parser as the binary (the environment aside), with the flags every test wants.
pub fn test_config(data_dir: &std::path::Path) -> Config {
    let data_dir = data_dir.to_str().expect("a UTF-8 temporary directory");
    let flags = [
        "--data-dir",
        data_dir,
        "--listen",
        "127.0.0.1:0",
        "--admin-token",
        TOKEN,
        "--allow-private-targets",
        "--retry-schedule",
        "200ms,200ms",
        "--delivery-timeout-secs",
        "2",
    ];
    // As `hookd serve` does, the connection cap stays below the open-file limit in force.
    let descriptor_limit = rlimit::Resource::NOFILE
        .get()
        .map_or(1024, |(soft, _hard)| soft);
    Config::from_serve_flags(flags, descriptor_limit).expect("the test flags parse")
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: axum::http::Method,
    /// The request's path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_else(|| panic!("missing header {name}"))
    }

    /// Which node sent the request: the id in `User-Agent: hookd/<version> (node <id>)`.
    pub fn sender(&self) -> String {
        let agent = self.header("user-agent");
        agent
            .split("(node ")
            .nth(1)
            .map(|rest| rest.trim_end_matches(')').to_owned())
            .unwrap_or_else(|| agent.to_owned())
    }
}

/// What the receiver answers with, in order; when the script runs out it answers 200 (or, for
/// `Receiver::answering`, its one reply).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }

    pub fn delayed(status: u16, delay: Duration) -> Reply {
        Reply {
            status,
            delay,
            headers: Vec::new(),
        }
    }
}

struct ReceiverState {
    script: Mutex<VecDeque<Reply>>,
    /// The answer once the script has run out.
    otherwise: Reply,
    received: Mutex<Vec<Received>>,
    /// Stamps receipts with this clock's time instead of the real one.
    clock: Option<Arc<TestClock>>,
}

/// A webhook receiver on 127.0.0.1 with a scripted sequence of replies.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
    _task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    pub async fn start(script: Vec<Reply>) -> Receiver {
        Self::start_with(script, None, Reply::status(200)).await
    }

    /// A receiver that answers every request with `reply`.
    pub async fn answering(reply: Reply) -> Receiver {
        Self::start_with(Vec::new(), None, reply).await
    }

    /// A receiver whose `Received::at` is `clock`'s time (see `TestClock::instant`), so that
    /// gaps between receipts are the gaps hookd saw on its injected clock.
    pub async fn start_on(script: Vec<Reply>, clock: &Arc<TestClock>) -> Receiver {
        Self::start_with(script, Some(Arc::clone(clock)), Reply::status(200)).await
    }

    async fn start_with(
        script: Vec<Reply>,
        clock: Option<Arc<TestClock>>,
        otherwise: Reply,
    ) -> Receiver {
        let state = Arc::new(ReceiverState {
            script: Mutex::new(script.into()),
            otherwise,
            received: Mutex::default(),
            clock,
        });
        let router = axum::Router::new()
            .fallback(receive)
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url,
            state,
            _task: task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.received.lock().unwrap().clone()
    }

    /// Waits until at least `count` requests arrived, or panics after `timeout`.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "receiver got {} of {count} requests",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, HeaderMap, &'static str) {
    let at = state
        .clock
        .as_ref()
        .map_or_else(Instant::now, |clock| clock.instant());
    state.received.lock().unwrap().push(Received {
        method,
        path: uri
            .path_and_query()
            .map_or_else(String::new, ToString::to_string),
        headers,
        body,
        at,
    });
    let reply = state
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| state.otherwise.clone());
    tokio::time::sleep(reply.delay).await;
    let mut reply_headers = HeaderMap::new();
    for (name, value) in reply.headers {
        reply_headers.insert(name, value.parse().unwrap());
    }
    (
        StatusCode::from_u16(reply.status).unwrap(),
        reply_headers,
        "ok",
    )
}

/// Verifies a delivery's Standard Webhooks signature with the endpoint's secret.
pub fn verify_signature(received: &Received, secret: &str) {
    let secret = webhook_signature::Secret::parse(secret).expect("valid secret");
    let now = chrono::Utc::now().timestamp();
    webhook_signature::verify(
        &[secret],
        received.header("webhook-id"),
        received.header("webhook-timestamp"),
        received.header("webhook-signature"),
        &received.body,
        now,
        300,
    )
    .expect("signature verifies");
}

/// Writes a suite's figures under `target/suite-figures/`, next to the binary under test.
pub fn write_figures(file: &str, figures: &Value) {
    let target = std::path::Path::new(env!("CARGO_BIN_EXE_hookd"))
        .ancestors()
        .nth(2)
        .expect("the binary sits in target/<profile>/");
    let directory = target.join("suite-figures");
    std::fs::create_dir_all(&directory).expect("target/suite-figures can be created");
    let path = directory.join(file);
    std::fs::write(&path, serde_json::to_vec_pretty(figures).unwrap())
        .unwrap_or_else(|error| panic!("writing {}: {error}", path.display()));
    println!("figures written to {}", path.display());
}
