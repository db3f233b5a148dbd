//! The access log: one `info` line per answered request with its method, route template (never
//! the raw path, and never a header, so no token is logged), status, latency and request id.
//! The request id is the client's `x-request-id` or a fresh UUID, and is returned in the
//! response's `x-request-id`, so a client's report can be found in the log. Every other event
//! logged while the request runs carries the same id (it is a field of the request's span).
//! Each answered request is also counted in `hookd_http_requests_total` by the same route
//! template (bounded by the router: unmatched paths are `(no route)`) and its status class.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::HeaderName;
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::telemetry::instruments::Instruments;

/// The name of the request-id header, request and response.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps every route of `router`, its fallback included. A layer added later runs earlier, so
/// the request id is set first (the span names it), then the trace runs, then the id is copied
/// onto the response; the count is taken innermost, where the answer is final.
pub fn wrap(router: Router, instruments: Arc<Instruments>) -> Router {
    router
        .layer(from_fn_with_state(instruments, count_answered))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_answered)
                .on_body_chunk(())
                .on_eos(())
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
}

/// The template (`/api/v1/app/{app_id}`), not the path: paths carry ids, and templates group.
fn route_template(request: &Request) -> &str {
    request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str)
}

async fn count_answered(
    axum::extract::State(instruments): axum::extract::State<Arc<Instruments>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = route.as_ref().map_or("(no route)", MatchedPath::as_str);
    instruments.http_request_answered(route, response.status().as_u16());
    response
}

fn request_span(request: &Request) -> Span {
    let route = route_template(request);
    let request_id = request
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("request", method = %request.method(), route = %route, request_id = %request_id)
}

fn log_answered(response: &Response, latency: Duration, _span: &Span) {
    let latency_ms = (latency.as_secs_f64() * 10_000.0).round() / 10.0;
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms,
        "request answered"
    );
}
