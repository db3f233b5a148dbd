//! Serving the API router over HTTP/1.1, plain or over TLS: accepting connections under a cap,
//! the per-connection timeouts, and a graceful shutdown with a deadline.
//!
//! Anyone who can reach the port can open connections without a token, so nothing here waits on
//! a client without a bound: a connection must send a complete request head within
//! `header_read_timeout` of its first byte (over TLS, the handshake must also finish within it
//! of the connection's opening, so a client that never sends its ClientHello is closed), a
//! connection that sends nothing while no request is in progress is closed after
//! `idle_timeout`, and at most `max_connections` are open at once (kept below the open-file
//! limit, so accepting never fails with `EMFILE` because of clients alone). When the cap is
//! reached, connections with no request in progress are closed to make room, because a client
//! holding a socket open without asking anything must not lock out one that asks.
//!
//! `accept.rs` holds the cap and the back-off after failed accepts, `activity.rs` what each
//! connection's timers read, `request_body.rs` whether an answer left its body unread, `tls.rs` the certificate and its reloading. This module knows
//! nothing of routes, status codes or JSON: those are `api`'s. Request bodies (their deadline and
//! their in-flight byte budget) are `api::body_limits`'.

mod accept;
mod activity;
mod request_body;
pub mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

pub use accept::{RESERVED_DESCRIPTORS, connection_cap};

use crate::telemetry::ErrorChain;
use accept::{AcceptBackoff, is_out_of_descriptors};
use activity::{ActivityTrackingStream, ConnectionActivity};
use tls::Tls;

/// How connections are bounded, and how long shutdown waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Longest time a client may take to send a complete request head, counted from its first
    /// byte.
    pub header_read_timeout: Duration,
    /// A connection that has sent no byte of a request for this long (since it opened, or since
    /// its previous answer) is closed.
    pub idle_timeout: Duration,
    /// Connections open at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// After shutdown begins, how long requests in progress may take to finish before their
    /// connections are closed anyway.
    pub shutdown_timeout: Duration,
}

/// At the connection cap, a connection with no request in progress is closed to make room only
/// once it has been quiet this long, so that one just accepted has time to send its request.
const EVICTION_GRACE: Duration = Duration::from_millis(500);

/// Serves `router` on `listener` (over TLS when `tls` is given, reloading its certificate as its
/// files change) until `shutdown` is cancelled, then stops accepting at once and gives the open
/// connections `limits.shutdown_timeout` to finish before closing them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) {
    let tls_acceptor = tls.map(|tls| {
        let acceptor = tls.acceptor();
        tokio::spawn(tls.watch_files(shutdown.child_token()));
        acceptor
    });
    let server = Arc::new(ServerState {
        limits,
        router,
        connection_slots: Arc::new(Semaphore::new(limits.max_connections)),
        make_room: Notify::new(),
        requests_in_progress: AtomicUsize::new(0),
        finish_and_close: CancellationToken::new(),
        close_now: CancellationToken::new(),
    });
    let connections = TaskTracker::new();
    let mut accept_errors = AcceptBackoff::default();
    loop {
        let slot = tokio::select! {
            () = shutdown.cancelled() => break,
            slot = server.take_connection_slot() => slot,
        };
        let accepted = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _peer)) => {
                accept_errors.succeeded();
                let server = Arc::clone(&server);
                match &tls_acceptor {
                    None => connections.spawn(server.serve_connection(stream, slot)),
                    Some(acceptor) => connections.spawn(server.serve_tls_connection(
                        acceptor.clone(),
                        stream,
                        slot,
                    )),
                };
            }
            Err(error) => {
                drop(slot);
                if is_out_of_descriptors(&error) {
                    // Something besides API connections holds the descriptors: closing idle
                    // connections gives some back, and waiting lets the rest be released.
                    server.make_room.notify_waiters();
                }
                let pause = accept_errors.failed(&error);
                tokio::time::sleep(pause).await;
            }
        }
    }
    // Stop accepting at once: a closed listener refuses new clients instead of queueing them.
    drop(listener);
    connections.close();
    server.drain(&connections).await;
}

/// What every connection task shares with the accept loop.
struct ServerState {
    limits: ConnectionLimits,
    router: Router,
    connection_slots: Arc<Semaphore>,
    /// Notified when the connection cap is reached: connections with no request in progress
    /// close themselves.
    make_room: Notify,
    requests_in_progress: AtomicUsize,
    /// Cancelled when shutdown begins: connections finish their request and close.
    finish_and_close: CancellationToken,
    /// Cancelled at the shutdown deadline: connections close whatever they are doing.
    close_now: CancellationToken,
}

impl ServerState {
    async fn take_connection_slot(&self) -> OwnedSemaphorePermit {
        if let Ok(slot) = Arc::clone(&self.connection_slots).try_acquire_owned() {
            return slot;
        }
        tracing::warn!(
            max_connections = self.limits.max_connections,
            "connection cap reached; closing connections that have no request in progress"
        );
        loop {
            self.make_room.notify_waiters();
            tokio::select! {
                slot = Arc::clone(&self.connection_slots).acquire_owned() => {
                    return slot.expect("the connection semaphore is never closed");
                }
                // Connections spared for being too fresh may be idle by now.
                () = tokio::time::sleep(EVICTION_GRACE) => {}
            }
        }
    }

    fn open_connections(&self) -> usize {
        self.limits.max_connections - self.connection_slots.available_permits()
    }

    /// Completes the TLS handshake within the header timeout, then serves the connection as a
    /// plain one. Until the handshake is done the connection has no request in progress, so
    /// shutdown and the cap's need for room end it at once.
    async fn serve_tls_connection(
        self: Arc<Self>,
        acceptor: TlsAcceptor,
        stream: TcpStream,
        slot: OwnedSemaphorePermit,
    ) {
        if let Some(stream) = self.tls_handshake(&acceptor, stream).await {
            self.serve_connection(stream, slot).await;
        }
    }

    async fn tls_handshake(
        &self,
        acceptor: &TlsAcceptor,
        stream: TcpStream,
    ) -> Option<TlsStream<TcpStream>> {
        let opened = Instant::now();
        // The handshake is the first part of receiving a request, so the header timeout bounds
        // it, counted from the connection's opening: a client that sends no ClientHello, or
        // sends it a byte at a time, holds its slot no longer than a slow request head would.
        let handshake =
            tokio::time::timeout(self.limits.header_read_timeout, acceptor.accept(stream));
        tokio::pin!(handshake);
        loop {
            tokio::select! {
                finished = handshake.as_mut() => {
                    return match finished {
                        Ok(Ok(stream)) => Some(stream),
                        Ok(Err(error)) => {
                            tracing::debug!(error = %ErrorChain(&error), "TLS handshake failed");
                            None
                        }
                        Err(_elapsed) => {
                            tracing::debug!("TLS handshake not finished within the header read timeout");
                            None
                        }
                    };
                }
                () = self.finish_and_close.cancelled() => return None,
                () = self.make_room.notified() => {
                    if opened.elapsed() >= EVICTION_GRACE {
                        return None;
                    }
                }
            }
        }
    }

    async fn serve_connection<S>(self: Arc<Self>, stream: S, _slot: OwnedSemaphorePermit)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let activity = Arc::new(ConnectionActivity::new());
        let io = TokioIo::new(ActivityTrackingStream {
            inner: stream,
            activity: Arc::clone(&activity),
        });
        let service = {
            let server = Arc::clone(&self);
            let activity = Arc::clone(&activity);
            hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
                let in_progress = RequestInProgress::enter(&server, &activity);
                let router = server.router.clone();
                async move {
                    // The request stays in progress until its response body has been sent,
                    // so that a long answer (an event stream) is not closed as idle.
                    let (request, body_read) = request_body::track(request);
                    let response = router.oneshot(request).await;
                    response.map(|mut response| {
                        body_read.close_unless_read(&mut response);
                        response.map(|body| {
                            Body::new(BodyInProgress {
                                body,
                                _in_progress: in_progress,
                            })
                        })
                    })
                }
            })
        };
        // hyper's own header timer starts when it begins waiting for a head, so it would also
        // cut idle keep-alive connections; the timers below tell waiting and sending apart.
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder.timer(TokioTimer::new()).header_read_timeout(None);
        let connection = builder.serve_connection(io, service);
        tokio::pin!(connection);
        let mut finishing = false;
        loop {
            let quiet_deadline = activity.quiet_deadline(&self.limits);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(error = %ErrorChain(&error), "HTTP connection ended with an error");
                    }
                    return;
                }
                () = self.finish_and_close.cancelled(), if !finishing => {
                    finishing = true;
                    connection.as_mut().graceful_shutdown();
                }
                () = self.close_now.cancelled() => return,
                () = activity.head_started.notified() => {}
                () = self.make_room.notified() => {
                    if activity.is_quiet_for(EVICTION_GRACE) {
                        return;
                    }
                }
                () = tokio::time::sleep_until(quiet_deadline) => {
                    if activity.requests_in_progress() == 0
                        && Instant::now() >= activity.quiet_deadline(&self.limits)
                    {
                        return;
                    }
                }
            }
        }
    }

    /// Waits for the connections to finish, saying what is still open, until the deadline;
    /// then closes what is left.
    async fn drain(&self, connections: &TaskTracker) {
        const PROGRESS_EVERY: Duration = Duration::from_secs(5);
        self.finish_and_close.cancel();
        let deadline = Instant::now() + self.limits.shutdown_timeout;
        loop {
            if connections.is_empty() {
                tracing::info!("HTTP connections closed");
                return;
            }
            tracing::info!(
                open_connections = self.open_connections(),
                requests_in_progress = self.requests_in_progress.load(Ordering::Relaxed),
                seconds_left = deadline.saturating_duration_since(Instant::now()).as_secs(),
                "shutting down: waiting for HTTP connections to finish their requests"
            );
            let next_report = (Instant::now() + PROGRESS_EVERY).min(deadline);
            tokio::select! {
                () = connections.wait() => {}
                () = tokio::time::sleep_until(next_report) => {}
            }
            if Instant::now() >= deadline && !connections.is_empty() {
                tracing::warn!(
                    open_connections = self.open_connections(),
                    requests_in_progress = self.requests_in_progress.load(Ordering::Relaxed),
                    "shutdown deadline reached: closing the remaining HTTP connections"
                );
                self.close_now.cancel();
                connections.wait().await;
                return;
            }
        }
    }
}

/// Counts a request as in progress on its connection and on the server while it lives.
struct RequestInProgress {
    server: Arc<ServerState>,
    activity: Arc<ConnectionActivity>,
}

impl RequestInProgress {
    fn enter(server: &Arc<ServerState>, activity: &Arc<ConnectionActivity>) -> Self {
        server.requests_in_progress.fetch_add(1, Ordering::Relaxed);
        activity.request_started();
        RequestInProgress {
            server: Arc::clone(server),
            activity: Arc::clone(activity),
        }
    }
}

/// A response body that keeps its request in progress until hyper drops it, at its end or
/// when the connection closes.
struct BodyInProgress {
    body: Body,
    _in_progress: RequestInProgress,
}

impl http_body::Body for BodyInProgress {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        context: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(context)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        self.server
            .requests_in_progress
            .fetch_sub(1, Ordering::Relaxed);
        self.activity.request_finished();
    }
}
