//! `GET /metrics`: every series of `telemetry::instruments` in Prometheus's text format, on
//! hookd's own port and outside `/api/v1`. With `--metrics-token` it requires that bearer
//! token (compared by hash in constant time, as the API's); without, it is open, for a
//! scraper inside the operator's network. Rendering reads the registry only: a scrape adds no
//! database query (the queue gauges are sampled in the background).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::ApiContext;
use super::auth::{bearer_token, token_matches};
use super::error::ApiError;

/// The text format's content type, version 0.0.4.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub async fn get(State(ctx): State<ApiContext>, headers: HeaderMap) -> Response {
    if let Some(expected) = &ctx.metrics_token_sha256 {
        let presented = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(bearer_token);
        let Some(token) = presented else {
            return ApiError::Unauthorized("missing bearer token").into_response();
        };
        if !token_matches(token, expected) {
            return ApiError::Unauthorized("invalid token").into_response();
        }
    }
    let instruments = &ctx.ops.instruments;
    let heartbeat_age = ctx.ops.readiness.engine_heartbeat.age();
    instruments
        .engine_heartbeat_age
        .set(heartbeat_age.map_or(f64::NAN, |age| age.as_secs_f64()));
    ([(CONTENT_TYPE, TEXT_FORMAT)], instruments.render()).into_response()
}
