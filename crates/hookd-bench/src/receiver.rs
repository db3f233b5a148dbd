//! The webhook receiver: an in-process HTTP server on 127.0.0.1 that answers 200 as fast as it can
//! and records when each webhook arrived, keyed by its `webhook-id` (the message id) and the
//! endpoint it was sent to.
//!
//! Endpoint `n` is the path `/ep/{n}`; `/slow/{n}` is the same but answers only after a fixed
//! delay (the misbehaving endpoint of the isolation scenario). The receiver can also be put on
//! hold: requests are accepted but not answered until it is released, which is how the backlog
//! scenario keeps deliveries queued (see `scenarios::backlog` for why not a refused connection).
//! It must stay cheap: it shares the machine with hookd, and its cost is part of the ceiling.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long the slow endpoint takes to answer.
pub const SLOW_ENDPOINT_DELAY: Duration = Duration::from_secs(5);
/// Longest a request waits while the receiver is on hold, so no request hangs forever.
const LONGEST_HOLD: Duration = Duration::from_secs(3600);

/// One webhook as it reached the receiver.
#[derive(Debug, Clone)]
pub struct Arrival {
    pub webhook_id: String,
    pub endpoint: u32,
    pub at: Instant,
    /// Arrived at a slow endpoint (`/slow/{n}`).
    pub slow: bool,
}

/// A running receiver; dropping it stops the server.
pub struct Receiver {
    address: SocketAddr,
    state: Arc<ReceiverState>,
    server: JoinHandle<()>,
}

struct ReceiverState {
    /// `true` while requests are answered; `false` while they are held.
    open: watch::Sender<bool>,
    arrivals: Mutex<Vec<Arrival>>,
    /// Arrivals at the healthy endpoints only, so waiting for them ignores the slow one.
    arrival_count: AtomicU64,
}

impl Receiver {
    /// Binds a free loopback port and starts answering.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .context("binding the receiver")?;
        let address = listener.local_addr()?;
        let state = Arc::new(ReceiverState {
            open: watch::Sender::new(true),
            arrivals: Mutex::new(Vec::new()),
            arrival_count: AtomicU64::new(0),
        });
        let router = Router::new()
            .route("/ep/{endpoint}", post(receive))
            .route("/slow/{endpoint}", post(receive_slowly))
            .with_state(Arc::clone(&state));
        let server = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                eprintln!("receiver stopped: {error}");
            }
        });
        Ok(Receiver {
            address,
            state,
            server,
        })
    }

    /// The URL of healthy endpoint number `endpoint`.
    pub fn endpoint_url(&self, endpoint: u32) -> String {
        format!("http://{}/ep/{endpoint}", self.address)
    }

    /// The URL of an endpoint that answers only after `SLOW_ENDPOINT_DELAY`.
    pub fn slow_endpoint_url(&self, endpoint: u32) -> String {
        format!("http://{}/slow/{endpoint}", self.address)
    }

    /// From now on, accept requests but do not answer them until `release`.
    pub fn hold(&self) {
        self.state.open.send_replace(false);
    }

    /// Answers the held requests and every later one.
    pub fn release(&self) {
        self.state.open.send_replace(true);
    }

    /// How many webhooks have arrived at healthy endpoints (duplicates included).
    pub fn arrival_count(&self) -> u64 {
        self.state.arrival_count.load(Ordering::Relaxed)
    }

    /// A shared handle on the arrival counter, for progress lines.
    pub fn counter(&self) -> impl Fn() -> u64 + Send + Sync + 'static {
        let state = Arc::clone(&self.state);
        move || state.arrival_count.load(Ordering::Relaxed)
    }

    /// Distinct (webhook, endpoint) pairs at healthy endpoints so far: the arrival count without
    /// redeliveries. Costs a pass over every arrival; call it only when the count says enough.
    pub fn distinct_arrival_count(&self) -> u64 {
        let arrivals = self.state.arrivals.lock().expect("arrivals lock");
        distinct_healthy(&arrivals)
    }

    /// Takes every arrival recorded so far, leaving the record empty.
    pub fn take_arrivals(&self) -> Vec<Arrival> {
        std::mem::take(&mut *self.state.arrivals.lock().expect("arrivals lock"))
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(
    State(state): State<Arc<ReceiverState>>,
    Path(endpoint): Path<u32>,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    state.wait_until_open().await;
    state.record(endpoint, &headers, false);
    state.arrival_count.fetch_add(1, Ordering::Relaxed);
    StatusCode::OK
}

async fn receive_slowly(
    State(state): State<Arc<ReceiverState>>,
    Path(endpoint): Path<u32>,
    headers: HeaderMap,
    _body: Bytes,
) -> StatusCode {
    tokio::time::sleep(SLOW_ENDPOINT_DELAY).await;
    state.wait_until_open().await;
    state.record(endpoint, &headers, true);
    StatusCode::OK
}

impl ReceiverState {
    async fn wait_until_open(&self) {
        if *self.open.borrow() {
            return;
        }
        let mut open = self.open.subscribe();
        let _ = tokio::time::timeout(LONGEST_HOLD, open.wait_for(|open| *open)).await;
    }

    fn record(&self, endpoint: u32, headers: &HeaderMap, slow: bool) {
        let at = Instant::now();
        let webhook_id = headers
            .get("webhook-id")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        self.arrivals.lock().expect("arrivals lock").push(Arrival {
            webhook_id,
            endpoint,
            at,
            slow,
        });
    }
}

/// Distinct (webhook, endpoint) pairs among the arrivals at healthy endpoints.
fn distinct_healthy(arrivals: &[Arrival]) -> u64 {
    let pairs: std::collections::HashSet<(&str, u32)> = arrivals
        .iter()
        .filter(|arrival| !arrival.slow)
        .map(|arrival| (arrival.webhook_id.as_str(), arrival.endpoint))
        .collect();
    pairs.len() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redeliveries_and_slow_arrivals_are_not_distinct_healthy_arrivals() {
        let arrival = |id: &str, endpoint: u32, slow: bool| Arrival {
            webhook_id: id.to_owned(),
            endpoint,
            at: Instant::now(),
            slow,
        };
        let arrivals = [
            arrival("msg_a", 0, false),
            arrival("msg_a", 0, false),
            arrival("msg_a", 1, false),
            arrival("msg_b", 0, false),
            arrival("msg_b", 9, true),
        ];
        assert_eq!(distinct_healthy(&arrivals), 3);
    }
}
