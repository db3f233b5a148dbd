//! The access log: one `info` line per answered request with its method, route template (never
//! the raw path, and never a header, so no token is logged), status, latency and request id.
//! The request id is the client's `x-request-id` when it is a plausible id (at most
//! `MAX_REQUEST_ID_LEN` characters from a small safe set, so a client cannot put line breaks,
//! quotes or kilobytes into every log line), else a fresh UUID; every answer carries it in its
//! `x-request-id`, so a client's report can be found in the log. It is a field of the
//! request's `request` span (method, route template, request id), the parent of every span and
//! event of the request's handling, so each of them carries the same id.
//! Each answered request is also counted in `hookd_http_requests_total` by the same route
//! template (bounded by the router: unmatched paths are `(no route)`) and its status class.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, HeaderName};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::Response;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::telemetry::instruments::Instruments;

/// The name of the request-id header, request and response.
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest client-chosen request id kept (a UUID is 36 characters, a W3C trace id 32).
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Wraps every route of `router`, its fallback included. A layer added later runs earlier, so
/// an unusable client id is dropped first, then the request id is set (the span names it), then
/// the trace runs, then the id is copied onto the response; the count is taken innermost,
/// where the answer is final.
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
        .layer(axum::middleware::map_request(drop_unusable_request_id))
}

/// Whether a client's `x-request-id` is kept: 1 to `MAX_REQUEST_ID_LEN` characters, each an
/// ASCII letter or digit or one of `-_.:+/=@` (enough for UUIDs, ULIDs, trace ids, base64).
pub fn is_usable_request_id(value: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&value.len())
        && value
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.:+/=@".contains(byte))
}

/// Removes every `x-request-id` of the request unless there is exactly one and it is usable,
/// so that `SetRequestIdLayer` makes a fresh one in its place.
async fn drop_unusable_request_id(mut request: Request) -> Request {
    if !has_one_usable_request_id(request.headers()) {
        request.headers_mut().remove(REQUEST_ID_HEADER);
    }
    request
}

fn has_one_usable_request_id(headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(REQUEST_ID_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(value), None) => is_usable_request_id(value.as_bytes()),
        _ => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn check(value: &str, usable: bool) {
        assert_eq!(is_usable_request_id(value.as_bytes()), usable, "{value:?}");
    }

    #[test]
    fn only_short_ids_of_safe_characters_are_kept() {
        let longest = "a".repeat(MAX_REQUEST_ID_LEN);
        let too_long = "a".repeat(MAX_REQUEST_ID_LEN + 1);
        #[rustfmt::skip]
        let cases = [
            ("5f0c6a8e-6d6c-4c8e-9a39-0b7c1f3c2d11", true),
            ("01HZY3K4B6XW8Q9RJ2M5N7P0TS", true),
            ("4bf92f3577b34da6a3ce929d0e0e4736", true),
            ("from-the-client-1", true),
            ("Root=1-5759e988-bd862e3fe1be46a994272793", true),
            ("a/b+c==", true),
            ("user@host:42", true),
            (longest.as_str(), true),
            ("", false),
            (too_long.as_str(), false),
            ("two words", false),
            ("line\nbreak", false),
            ("quote\"d", false),
            ("<script>", false),
            ("semi;colon", false),
            ("caf\u{e9}", false),
        ];
        for (value, usable) in cases {
            check(value, usable);
        }
    }
}
