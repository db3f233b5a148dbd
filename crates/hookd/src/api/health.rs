//! `GET /api/v1/health` and `GET /api/v1/health/ready`: both answer without a token, so load
//! balancers and orchestrators can probe the server.
//!
//! `health` is liveness: the process answers HTTP; it does not touch the store (the SDK's
//! `health.get` calls it). `ready` is readiness (`ops::readiness`): the database answers and
//! the delivery loop is going round. Ready, it answers 200; otherwise 503 with `code`
//! `not_ready`, a `detail` naming what failed, and each check's state in `checks`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ApiContext;
use crate::ops::readiness::{self, DatabaseCheck, EngineCheck};

pub async fn get() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(ctx): State<ApiContext>) -> Response {
    let readiness = readiness::check(&ctx.ops).await;
    let database = match readiness.database {
        DatabaseCheck::Ok => "ok",
        DatabaseCheck::Failed => "failed",
        DatabaseCheck::TimedOut => "timeout",
    };
    let (engine, heartbeat_age) = match readiness.engine {
        EngineCheck::Ok { heartbeat_age } => ("ok", Some(heartbeat_age)),
        EngineCheck::NotStarted => ("not_started", None),
        EngineCheck::Stalled { heartbeat_age } => ("stalled", Some(heartbeat_age)),
    };
    let checks = json!({
        "database": database,
        "engine": engine,
        "engineHeartbeatAgeMs": heartbeat_age.map(|age| u64::try_from(age.as_millis()).unwrap_or(u64::MAX)),
    });
    if readiness.is_ready() {
        return Json(json!({ "status": "ready", "checks": checks })).into_response();
    }
    let mut failed = Vec::new();
    if database != "ok" {
        failed.push(format!("database: {database}"));
    }
    if engine != "ok" {
        failed.push(format!("engine: {engine}"));
    }
    let body = json!({
        "code": "not_ready",
        "detail": failed.join("; "),
        "status": "not_ready",
        "checks": checks,
    });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}
