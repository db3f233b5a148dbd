//! `GET /api/v1/health`: answers without a token, so load balancers and the SDK's `health.get`
//! can probe the server. It does not touch the store.

use axum::Json;
use serde_json::{Value, json};

pub async fn get() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
