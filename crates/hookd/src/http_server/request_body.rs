//! Request bodies that tell whether they were read to their end.
//!
//! hyper reuses a connection for the next request only once the previous request's body has
//! been consumed. When a handler answers without reading the body (a refused token, an unknown
//! route, a missing application), hyper drains what is already buffered and otherwise closes
//! the connection after the answer, without saying so in it: a client that pools connections
//! then sends its next request on a socket that is being closed, and sees it fail with no
//! answer. Such answers carry `Connection: close` instead, so the client opens a new one.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, Response, header::CONNECTION};
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;

/// Whether a request's body was read to its end (or had none).
pub(super) struct ReadToEnd(Arc<AtomicBool>);

impl ReadToEnd {
    /// Marks `response` as the connection's last when the body was left unread.
    pub(super) fn close_unless_read<B>(&self, response: &mut Response<B>) {
        if !self.0.load(Ordering::Relaxed) {
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
        }
    }
}

/// The request with its body wrapped, and the flag the wrapper sets when the body ends.
pub(super) fn track(request: Request<Incoming>) -> (Request<Body>, ReadToEnd) {
    let finished = Arc::new(AtomicBool::new(http_body::Body::is_end_stream(
        request.body(),
    )));
    let flag = ReadToEnd(Arc::clone(&finished));
    let request = request.map(|inner| Body::new(TrackedBody { inner, finished }));
    (request, flag)
}

struct TrackedBody {
    inner: Incoming,
    finished: Arc<AtomicBool>,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(context);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.finished.store(true, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
