//! Serving the API router over HTTP/1.1: accepting connections under a cap, the per-connection
//! timeouts, and a graceful shutdown with a deadline.
//!
//! Anyone who can reach the port can open connections without a token, so nothing here waits on
//! a client without a bound: a connection must send a complete request head within
//! `header_read_timeout` of its first byte, a connection that sends nothing while no request is
//! in progress is closed after `idle_timeout`, and at most `max_connections` are open at once (kept below the
//! open-file limit, so accepting never fails with `EMFILE` because of clients alone). When the
//! cap is reached, connections with no request in progress are closed to make room, because a
//! client holding a socket open without asking anything must not lock out one that asks.
//!
//! This module knows nothing of routes, status codes or JSON: those are `api`'s. Request bodies
//! (their deadline and their in-flight byte budget) are `api::body_limits`'.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::telemetry::ErrorChain;

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

/// Descriptors kept free for everything that is not an API connection: the database, the
/// listener, log and data files. Outbound delivery connections are reserved separately.
pub const RESERVED_DESCRIPTORS: usize = 64;

/// The connection cap for an open-file limit: what the operator asked for (or, unasked, all
/// that the limit allows), but always leaving `reserved` descriptors free, and never fewer than
/// a handful of connections, so that a tiny limit still serves something.
pub fn connection_cap(descriptor_limit: u64, requested: Option<usize>, reserved: usize) -> usize {
    const MINIMUM_CONNECTIONS: usize = 16;
    let allowed = usize::try_from(descriptor_limit)
        .unwrap_or(usize::MAX)
        .saturating_sub(reserved)
        .max(MINIMUM_CONNECTIONS);
    requested.map_or(allowed, |requested| requested.clamp(1, allowed))
}

/// Serves `router` on `listener` until `shutdown` is cancelled, then stops accepting at once and
/// gives the open connections `limits.shutdown_timeout` to finish before closing them.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: CancellationToken,
) {
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
                connections.spawn(Arc::clone(&server).serve_connection(stream, slot));
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

    async fn serve_connection(self: Arc<Self>, stream: TcpStream, _slot: OwnedSemaphorePermit) {
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
                    let response = router.oneshot(request.map(Body::new)).await;
                    drop(in_progress);
                    response
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
        activity
            .requests_in_progress
            .fetch_add(1, Ordering::Relaxed);
        activity
            .head_started_millis
            .store(NO_HEAD_STARTED, Ordering::Relaxed);
        RequestInProgress {
            server: Arc::clone(server),
            activity: Arc::clone(activity),
        }
    }
}

impl Drop for RequestInProgress {
    fn drop(&mut self) {
        self.server
            .requests_in_progress
            .fetch_sub(1, Ordering::Relaxed);
        // The idle time of a keep-alive connection counts from its last answer.
        self.activity.touch();
        self.activity
            .requests_in_progress
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// `head_started_millis` while no request head is being received.
const NO_HEAD_STARTED: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it opened: when it last received bytes or
/// finished a request, when the first byte of the request head being received arrived, and how
/// many requests are in progress (at most one on HTTP/1.1).
struct ConnectionActivity {
    opened: Instant,
    last_activity_millis: AtomicU64,
    head_started_millis: AtomicU64,
    /// Notified when a head starts, so that the connection's timer moves to the header deadline.
    head_started: Notify,
    requests_in_progress: AtomicUsize,
}

impl ConnectionActivity {
    fn new() -> Self {
        ConnectionActivity {
            opened: Instant::now(),
            last_activity_millis: AtomicU64::new(0),
            head_started_millis: AtomicU64::new(NO_HEAD_STARTED),
            head_started: Notify::new(),
            requests_in_progress: AtomicUsize::new(0),
        }
    }

    fn millis_since_opened(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(NO_HEAD_STARTED - 1)
    }

    fn touch(&self) {
        self.last_activity_millis
            .store(self.millis_since_opened(), Ordering::Relaxed);
    }

    /// Bytes arrived. Between requests they are the start of the next request head.
    fn received_bytes(&self) {
        let now = self.millis_since_opened();
        self.last_activity_millis.store(now, Ordering::Relaxed);
        if self.requests_in_progress() == 0 {
            let started = self.head_started_millis.compare_exchange(
                NO_HEAD_STARTED,
                now,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if started.is_ok() {
                self.head_started.notify_one();
            }
        }
    }

    fn requests_in_progress(&self) -> usize {
        self.requests_in_progress.load(Ordering::Relaxed)
    }

    /// When a connection with no request in progress is to be closed: the header deadline once
    /// a head has begun, the idle deadline before.
    fn quiet_deadline(&self, limits: &ConnectionLimits) -> Instant {
        // A request in progress is not quiet however long it runs; look again an idle timeout
        // from now, rather than at a deadline already past (which would wake the loop at once,
        // over and over, while the handler runs).
        if self.requests_in_progress() > 0 {
            return Instant::now() + limits.idle_timeout;
        }
        match self.head_started_millis.load(Ordering::Relaxed) {
            NO_HEAD_STARTED => {
                let last = self.last_activity_millis.load(Ordering::Relaxed);
                self.opened + Duration::from_millis(last) + limits.idle_timeout
            }
            started => self.opened + Duration::from_millis(started) + limits.header_read_timeout,
        }
    }

    /// Whether nothing was received and no request ran for `quiet_for`.
    fn is_quiet_for(&self, quiet_for: Duration) -> bool {
        let last = Duration::from_millis(self.last_activity_millis.load(Ordering::Relaxed));
        self.requests_in_progress() == 0 && self.opened.elapsed() >= last + quiet_for
    }
}

/// The client's socket, noting every read that brings bytes as activity.
struct ActivityTrackingStream {
    inner: TcpStream,
    activity: Arc<ConnectionActivity>,
}

impl AsyncRead for ActivityTrackingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffer: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let filled_before = buffer.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(context, buffer);
        if buffer.filled().len() > filled_before {
            self.activity.received_bytes();
        }
        polled
    }
}

impl AsyncWrite for ActivityTrackingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        bytes: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(context, bytes)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
        buffers: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(context, buffers)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(context)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(context)
    }
}

/// Whether an accept failed because this process or the system ran out of descriptors.
fn is_out_of_descriptors(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EMFILE | libc::ENFILE))
}

/// The pause after a failed accept: none for errors about one client (it reset before being
/// accepted), and growing pauses while the process is out of resources, so that the loop
/// neither spins nor logs the same error thousands of times a second.
#[derive(Debug, Default)]
struct AcceptBackoff {
    consecutive_failures: u32,
}

impl AcceptBackoff {
    const FIRST_PAUSE: Duration = Duration::from_millis(10);
    const LONGEST_PAUSE: Duration = Duration::from_secs(1);

    fn succeeded(&mut self) {
        if self.consecutive_failures > 0 {
            tracing::info!(
                failed_accepts = self.consecutive_failures,
                "accepting connections again"
            );
        }
        self.consecutive_failures = 0;
    }

    fn failed(&mut self, error: &io::Error) -> Duration {
        if is_per_connection_error(error) {
            tracing::debug!(error = %ErrorChain(error), "a client went away before its connection was accepted");
            return Duration::ZERO;
        }
        if self.consecutive_failures == 0 {
            tracing::warn!(error = %ErrorChain(error), "accepting connections failed; backing off until it works");
        }
        let pause = pause_after_failures(self.consecutive_failures);
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        pause
    }
}

/// `FIRST_PAUSE`, doubled for each further consecutive failure, at most `LONGEST_PAUSE`.
fn pause_after_failures(previous_failures: u32) -> Duration {
    AcceptBackoff::FIRST_PAUSE
        .saturating_mul(1u32 << previous_failures.min(16))
        .min(AcceptBackoff::LONGEST_PAUSE)
}

fn is_per_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request that runs longer than the idle timeout must not leave the connection's timer
    /// at a deadline in the past: the loop would wake at once, again and again, for as long as
    /// the request runs.
    #[test]
    fn a_request_in_progress_moves_the_quiet_deadline_ahead() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_millis(5),
            idle_timeout: Duration::from_millis(5),
            max_connections: 1,
            shutdown_timeout: Duration::from_secs(1),
        };
        let activity = ConnectionActivity::new();
        activity.received_bytes();
        activity
            .requests_in_progress
            .fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        assert!(
            activity.quiet_deadline(&limits) > Instant::now(),
            "the deadline of a busy connection lies ahead"
        );
        activity
            .requests_in_progress
            .fetch_sub(1, Ordering::Relaxed);
        assert!(
            activity.quiet_deadline(&limits) <= Instant::now(),
            "an idle connection's deadline passed"
        );
    }

    fn check_cap(descriptor_limit: u64, requested: Option<usize>, expected: usize) {
        assert_eq!(
            connection_cap(descriptor_limit, requested, 320),
            expected,
            "limit {descriptor_limit}, requested {requested:?}"
        );
    }

    #[test]
    fn connection_caps_stay_below_the_descriptor_limit() {
        check_cap(1024, None, 704);
        check_cap(1024, Some(100), 100);
        check_cap(1024, Some(5000), 704);
        check_cap(1024, Some(0), 1);
        check_cap(300, None, 16);
        check_cap(u64::MAX, None, usize::MAX - 320);
    }

    fn check_pause(previous_failures: u32, expected: Duration) {
        assert_eq!(
            pause_after_failures(previous_failures),
            expected,
            "{previous_failures}"
        );
    }

    #[test]
    fn accept_failures_back_off_up_to_a_second() {
        check_pause(0, Duration::from_millis(10));
        check_pause(1, Duration::from_millis(20));
        check_pause(3, Duration::from_millis(80));
        check_pause(7, Duration::from_secs(1));
        check_pause(u32::MAX, Duration::from_secs(1));
    }

    #[test]
    fn only_descriptor_exhaustion_counts_as_out_of_descriptors() {
        for (errno, expected) in [
            (libc::EMFILE, true),
            (libc::ENFILE, true),
            (libc::ECONNABORTED, false),
        ] {
            let error = io::Error::from_raw_os_error(errno);
            assert_eq!(is_out_of_descriptors(&error), expected, "{error}");
        }
    }
}
