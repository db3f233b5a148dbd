//! What a request body may cost while it is read: a deadline for reading it, and a budget of
//! body bytes held by all requests in progress together.
//!
//! Every body is at most `max_body_bytes`, but thousands of them at once would still take
//! gigabytes, so a request reserves its size from one shared budget before its body is read and
//! gives it back when its answer is ready. A request that does not fit is answered at once with
//! 503 and `Retry-After`, without reading its body. A client that sends its body slowly would
//! hold its reservation (and a connection) for as long as it likes, so the body must arrive
//! within `body_read_timeout` of the request head; past that, reading it fails with 408.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use http_body::Frame;
use tokio::sync::Semaphore;
use tokio::time::Sleep;

use super::ApiContext;
use super::error::ApiError;

/// How long an over-budget client is asked to wait before trying again.
pub const RETRY_OVER_BUDGET_AFTER: Duration = Duration::from_secs(1);

/// The shared limits on request bodies. Cheap to clone: clones share one budget.
#[derive(Debug, Clone)]
pub struct BodyLimits {
    /// Time from the request head to the end of its body.
    pub body_read_timeout: Duration,
    in_flight_budget: Arc<Semaphore>,
    in_flight_budget_bytes: usize,
}

impl BodyLimits {
    /// Limits allowing `in_flight_budget_bytes` of bodies in progress at once.
    pub fn new(body_read_timeout: Duration, in_flight_budget_bytes: usize) -> Self {
        // A reservation is taken as `u32` permits, so no budget is larger than one can hold.
        let largest_reservation = usize::try_from(u32::MAX).unwrap_or(usize::MAX);
        let in_flight_budget_bytes =
            in_flight_budget_bytes.clamp(1, Semaphore::MAX_PERMITS.min(largest_reservation));
        BodyLimits {
            body_read_timeout,
            in_flight_budget: Arc::new(Semaphore::new(in_flight_budget_bytes)),
            in_flight_budget_bytes,
        }
    }
}

/// Middleware: reserves the body's bytes from the budget (or answers 503) and puts the read
/// deadline on the body.
pub async fn reserve_and_time_body(
    State(ctx): State<ApiContext>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let limits = &ctx.body_limits;
    let reserve =
        bytes_to_reserve(request.headers(), ctx.max_body_bytes).min(limits.in_flight_budget_bytes);
    let permits =
        u32::try_from(reserve).map_err(|_| ApiError::Internal("a body reservation over 4 GiB"))?;
    let request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            deadline: Box::pin(tokio::time::sleep(limits.body_read_timeout)),
        })
    });
    let reservation = match permits {
        0 => None,
        permits => match Arc::clone(&limits.in_flight_budget).try_acquire_many_owned(permits) {
            Ok(reservation) => Some(reservation),
            Err(_) => {
                discard_body(request.into_body(), ctx.max_body_bytes).await;
                return Err(ApiError::Overloaded {
                    retry_after: RETRY_OVER_BUDGET_AFTER,
                });
            }
        },
    };
    let response = next.run(request).await;
    drop(reservation);
    Ok(response)
}

/// Reads a refused body to its end (within its deadline) and drops it chunk by chunk: a client
/// still sending when the connection closes would see a reset instead of the answer.
async fn discard_body(body: Body, max_body_bytes: usize) {
    let mut chunks = body.into_data_stream();
    let mut discarded = 0usize;
    while let Some(Ok(chunk)) = chunks.next().await {
        discarded = discarded.saturating_add(chunk.len());
        if discarded > max_body_bytes {
            return;
        }
    }
}

/// Whether reading a request body failed because its deadline passed.
pub fn is_body_deadline(error: &axum::Error) -> bool {
    // The body is wrapped more than once on its way to a handler, each wrapper adding a layer.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = cause {
        if error.is::<BodyDeadlinePassed>() {
            return true;
        }
        cause = error.source();
    }
    false
}

/// The bytes a request may bring: its `Content-Length` if it declares one within the limit,
/// nothing for a larger one (it is refused with 413 before any of it is read), and the whole
/// limit for a chunked body of unknown length.
fn bytes_to_reserve(headers: &HeaderMap, max_body_bytes: usize) -> usize {
    let declared_length = headers
        .get(CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    match declared_length {
        Some(length) => usize::try_from(length)
            .ok()
            .filter(|length| *length <= max_body_bytes)
            .unwrap_or(0),
        None if headers.contains_key(TRANSFER_ENCODING) => max_body_bytes,
        None => 0,
    }
}

/// The request body did not arrive within `body_read_timeout`.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive in time")]
struct BodyDeadlinePassed;

/// A body that fails with `BodyDeadlinePassed` once its deadline is reached.
struct DeadlineBody {
    inner: Body,
    deadline: Pin<Box<Sleep>>,
}

impl http_body::Body for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(context) {
            return Poll::Ready(frame);
        }
        match self.deadline.as_mut().poll(context) {
            Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyDeadlinePassed)))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reservations are taken as `u32` permits, so a budget over 4 GiB (both flags allow it)
    /// must be cut to what one reservation can hold, not fail every large request.
    #[test]
    fn a_budget_over_4_gib_is_cut_to_what_a_reservation_can_hold() {
        let limits = BodyLimits::new(Duration::from_secs(1), 8 << 30);
        assert!(u32::try_from(limits.in_flight_budget_bytes).is_ok());
    }

    fn check_reserve(headers: &[(&str, &str)], expected: usize) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        assert_eq!(bytes_to_reserve(&map, 1000), expected, "{headers:?}");
    }

    #[test]
    fn reservations_follow_the_declared_length() {
        check_reserve(&[], 0);
        check_reserve(&[("content-length", "0")], 0);
        check_reserve(&[("content-length", "250")], 250);
        check_reserve(&[("content-length", "1000")], 1000);
        check_reserve(&[("content-length", "1001")], 0);
        check_reserve(&[("content-length", "a lot")], 0);
        check_reserve(&[("transfer-encoding", "chunked")], 1000);
    }
}
