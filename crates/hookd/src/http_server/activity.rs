//! What one connection is doing, as its timers need to know: when it last received bytes or
//! finished a request, when the request head being received began, and whether a request is in
//! progress. `ActivityTrackingStream` notes every read that brings bytes; over TLS it wraps the
//! decrypted stream, so that the bytes counted are those of requests.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::ConnectionLimits;

/// `head_started_millis` while no request head is being received.
const NO_HEAD_STARTED: u64 = u64::MAX;

/// What a connection is doing, in milliseconds since it opened: when it last received bytes or
/// finished a request, when the first byte of the request head being received arrived, and how
/// many requests are in progress (at most one on HTTP/1.1).
pub(super) struct ConnectionActivity {
    opened: Instant,
    last_activity_millis: AtomicU64,
    head_started_millis: AtomicU64,
    /// Notified when a head starts, so that the connection's timer moves to the header deadline.
    pub(super) head_started: Notify,
    requests_in_progress: AtomicUsize,
}

impl ConnectionActivity {
    pub(super) fn new() -> Self {
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

    /// A request head has been received: the request is in progress until `request_finished`.
    pub(super) fn request_started(&self) {
        self.requests_in_progress.fetch_add(1, Ordering::Relaxed);
        self.head_started_millis
            .store(NO_HEAD_STARTED, Ordering::Relaxed);
    }

    /// The idle time of a keep-alive connection counts from its last answer.
    pub(super) fn request_finished(&self) {
        self.last_activity_millis
            .store(self.millis_since_opened(), Ordering::Relaxed);
        self.requests_in_progress.fetch_sub(1, Ordering::Relaxed);
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

    pub(super) fn requests_in_progress(&self) -> usize {
        self.requests_in_progress.load(Ordering::Relaxed)
    }

    /// When a connection with no request in progress is to be closed: the header deadline once
    /// a head has begun, the idle deadline before.
    pub(super) fn quiet_deadline(&self, limits: &ConnectionLimits) -> Instant {
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
    pub(super) fn is_quiet_for(&self, quiet_for: Duration) -> bool {
        let last = Duration::from_millis(self.last_activity_millis.load(Ordering::Relaxed));
        self.requests_in_progress() == 0 && self.opened.elapsed() >= last + quiet_for
    }
}

/// The client's stream (a socket, or a TLS session over one), noting every read that brings
/// bytes as activity.
pub(super) struct ActivityTrackingStream<S> {
    pub(super) inner: S,
    pub(super) activity: std::sync::Arc<ConnectionActivity>,
}

impl<S: AsyncRead + Unpin> AsyncRead for ActivityTrackingStream<S> {
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

impl<S: AsyncWrite + Unpin> AsyncWrite for ActivityTrackingStream<S> {
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
}
